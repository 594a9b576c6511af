// The bot list: one card per bot, live status over SSE, CPU and memory every 10 s.

import "../lib/common.js";
import { announce, toast } from "../lib/notify.js";
import { api, optional } from "../lib/api.js";
import { runAction } from "../lib/action.js";
import { initBackup } from "../lib/backup.js";
import { Bulk } from "../lib/bulk.js";
import { renderChannelHealth } from "../lib/channelhealth.js";
import { $, h } from "../lib/dom.js";
import { engineError, engineState, showEngine } from "../lib/engine.js";
import { confirmDelete } from "../lib/dialog.js";
import * as fmt from "../lib/format.js";
import { every, watchFleet } from "../lib/live.js";
import * as st from "../lib/status.js";

const list = $("#bot-list");
const search = $("#bot-search");
const filter = $("#bot-filter");
const liveState = $("#live-state");
const bots = new Map(); // id -> bot (as GET /api/bots gives it)
const cards = new Map(); // id -> {node, parts}
let stats = {}; // id -> {cpu_percent, memory_bytes, ...}
let statsAvailable = true;
let loaded = false;
const bulk = new Bulk({
  bots,
  list,
  updated: (bot) => setStatus(bot.id, bot.status, bot.name, { started_at: bot.started_at }),
  deleted: (id) => setStatus(id, null, null, { deleted: true }),
  refresh: () => refresh(),
});
initBackup({ imported: () => refresh() });

// -- rendering ----------------------------------------------------------------------

function fact(term, value, key, wide = false) {
  const dd = h("dd", { "data-fact": key }, value);
  return { node: h("div", { class: wide ? "fact-wide" : null }, h("dt", {}, term), dd), dd };
}

function makeCard(bot) {
  const emoji = h("span", { class: "persona-emoji", "aria-hidden": "true" });
  const link = h("a", { href: `/bots/${encodeURIComponent(bot.id)}` }, bot.name);
  const persona = h("p", { class: "muted small" });
  const badge = h("span", { class: "badge" });
  const why = h("p", { class: "muted small state-reason", hidden: "" });
  const model = fact("Provider / model", "", "model", true);
  const channel = fact("Channel", "", "channel");
  const uptime = fact("Uptime", "—", "uptime");
  const cpu = fact("CPU", "—", "cpu");
  const memory = fact("Memory", "—", "memory");
  const where = fact("Node", "—", "node");
  where.node.hidden = true; // shown once a bot reports a node (Swarm)
  const health = fact("Channel health", "", "channel-health", true);
  const healthList = h("ul", { class: "channel-health" });
  health.dd.append(healthList);
  health.node.hidden = true; // shown once the bot's gateway reported its channels
  const button = (action, text, extra = "") =>
    h("button", { type: "button", class: `btn btn-small ${extra}`, "data-action": action }, text);
  const buttons = {
    start: button("start", "Start"),
    stop: button("stop", "Stop"),
    restart: button("restart", "Restart"),
    delete: button("delete", "Delete", "btn-danger-ghost"),
  };
  const node = h(
    "li",
    { class: "card bot-card", "data-bot-id": bot.id, "data-name": bot.name },
    h(
      "div",
      { class: "bot-card-head" },
      emoji,
      h("div", { class: "bot-card-title" }, h("h2", {}, link), persona),
      badge,
    ),
    why,
    h("dl", { class: "facts" }, model.node, channel.node, uptime.node, cpu.node, memory.node, where.node, health.node),
    h("div", { class: "bot-card-actions" }, Object.values(buttons)),
  );
  bulk.decorate(node, bot);
  node.addEventListener("click", (event) => {
    const target = event.target.closest("button[data-action]");
    if (target) act(node.dataset.botId, target.dataset.action, target);
  });
  const parts = { emoji, persona, badge, why, model: model.dd, channel: channel.dd, uptime: uptime.dd, cpu: cpu.dd, memory: memory.dd, node: where.dd, nodeFact: where.node, healthList, healthFact: health.node, buttons };
  return { node, parts };
}

function updateCard(card, bot) {
  const { parts } = card;
  const persona = bot.persona || {};
  parts.emoji.textContent = persona.emoji || (bot.name[0] || "?").toUpperCase();
  parts.persona.textContent = persona.name && persona.name !== bot.name ? persona.name : "";
  st.badge(bot.status, parts.badge);
  const reason = st.reason(bot.status);
  parts.why.textContent = reason;
  parts.why.hidden = !reason || st.summaryOf(bot.status) === "healthy";
  parts.model.textContent = `${bot.provider}/${bot.model}`;
  parts.model.title = parts.model.textContent;
  parts.channel.textContent = (bot.channels || [bot.channel]).join(", ");
  renderChannelHealth(parts.healthList, bot.channel_status);
  parts.healthFact.hidden = parts.healthList.hidden;
  const nodeName = bot.status && bot.status.node;
  if (nodeName) parts.node.textContent = nodeName;
  parts.nodeFact.hidden = !nodeName && parts.node.textContent === "—";
  const up = st.isUp(bot.status);
  parts.uptime.textContent = up ? fmt.since(startedAt(bot)) : "—";
  const usage = up ? stats[bot.id] : null;
  parts.cpu.textContent = usage ? fmt.percent(usage.cpu_percent) : "—";
  parts.memory.textContent = usage ? fmt.bytes(usage.memory_bytes) : "—";
  parts.memory.title = usage && usage.memory_limit ? `of ${fmt.bytes(usage.memory_limit)}` : "";
  if (!statsAvailable) {
    parts.cpu.title = parts.memory.title = "resource figures are not available on this server";
  }
  const creating = bot.state === "creating";
  parts.buttons.start.disabled = up || creating;
  parts.buttons.stop.disabled = !up || creating;
  parts.buttons.restart.disabled = creating;
  for (const [action, button] of Object.entries(parts.buttons)) {
    button.setAttribute("aria-label", `${action[0].toUpperCase()}${action.slice(1)} ${bot.name}`);
  }
  card.node.dataset.status = st.summaryOf(bot.status);
}

function startedAt(bot) {
  return bot.started_at || (bot.status && bot.status.started_at);
}

function visible(bot) {
  const needle = search.value.trim().toLowerCase();
  const persona = (bot.persona && bot.persona.name) || "";
  const named = !needle || bot.name.toLowerCase().includes(needle) || persona.toLowerCase().includes(needle);
  return named && st.matches(bot.status, filter.value);
}

function render() {
  const sorted = [...bots.values()].sort((a, b) => a.name.localeCompare(b.name));
  for (const [id, card] of cards) {
    if (!bots.has(id)) {
      card.node.remove();
      cards.delete(id);
    }
  }
  let shown = 0;
  let previous = null;
  for (const bot of sorted) {
    let card = cards.get(bot.id);
    if (!card) {
      card = makeCard(bot);
      cards.set(bot.id, card);
    }
    updateCard(card, bot);
    const show = visible(bot);
    card.node.hidden = !show;
    if (show) shown += 1;
    // Keep DOM order = name order, moving only nodes that are out of place (keeps focus).
    const expected = previous ? previous.nextElementSibling : list.firstElementChild;
    if (expected !== card.node) {
      if (previous) previous.after(card.node);
      else list.prepend(card.node);
    }
    previous = card.node;
  }
  list.setAttribute("aria-busy", "false");
  $("#empty-none").hidden = !loaded || bots.size > 0;
  $("#empty-filtered").hidden = bots.size === 0 || shown > 0;
  bulk.sync();
}

// -- data -----------------------------------------------------------------------------

function setStatus(id, status, name, extra = {}) {
  const bot = bots.get(id);
  if (extra.deleted) {
    if (bot) {
      bots.delete(id);
      announce(`${bot.name} was deleted`);
      render();
    }
    return;
  }
  if (!bot) {
    refresh();
    return;
  }
  const before = st.label(bot.status);
  bot.status = status;
  if (!st.isUp(status)) bot.channel_status = null; // as the API shows a bot that is not up
  if ("started_at" in extra) bot.started_at = extra.started_at;
  // No container: being deleted (from elsewhere) or removed by hand; or still being
  // created (its row changes too): ask for the whole list again shortly.
  if (st.summaryOf(status) === "missing" || bot.state === "creating") refreshSoon();
  const after = st.label(status);
  if (before !== after) announce(`${name || bot.name} is now ${after}`);
  render();
}

let soon = 0;
function refreshSoon() {
  window.clearTimeout(soon);
  soon = window.setTimeout(refresh, 1000);
}

async function refresh() {
  try {
    const data = await api("/api/bots");
    const seen = new Set();
    for (const bot of data.bots) {
      const old = bots.get(bot.id);
      if (old && loaded && st.label(old.status) !== st.label(bot.status)) {
        announce(`${bot.name} is now ${st.label(bot.status)}`);
      }
      bots.set(bot.id, bot);
      seen.add(bot.id);
    }
    for (const id of [...bots.keys()]) if (!seen.has(id)) bots.delete(id);
    loaded = true;
    $("#list-error").hidden = true;
  } catch (err) {
    engineError(err);
    // The engine down is said once, by the banner; anything else here.
    const box = $("#list-error");
    box.textContent = `Could not load the bots: ${err.message}`;
    box.hidden = err.code === "engine_unavailable";
  }
  render();
}

async function pollStats() {
  try {
    const data = await optional("/api/stats");
    statsAvailable = data !== null;
    stats = (data && data.bots) || {};
  } catch {
    stats = {};
  }
  render();
  return true;
}

// -- actions --------------------------------------------------------------------------

async function act(id, action, button) {
  const bot = bots.get(id);
  if (!bot) return;
  if (action === "delete") {
    const done = await confirmDelete(bot.name, () => api(`/api/bots/${encodeURIComponent(id)}`, { method: "DELETE" }));
    if (done) {
      bots.delete(id);
      render();
      toast(`Deleted ${bot.name}.`, "ok");
      announce(`${bot.name} was deleted`);
    }
    return;
  }
  await runAction(button, () => api(`/api/bots/${encodeURIComponent(id)}/${action}`, { method: "POST" }), {
    subject: bot.name,
    done: (updated) => setStatus(id, updated.status, updated.name, { started_at: updated.started_at }),
    refresh: render,
  });
}

// -- start ------------------------------------------------------------------------------

search.addEventListener("input", render);
filter.addEventListener("change", render);
$("#clear-filters").addEventListener("click", () => {
  search.value = "";
  filter.value = "";
  render();
  search.focus();
});

const params = new URLSearchParams(window.location.search);
if (params.get("deleted")) {
  toast(`Deleted ${params.get("deleted")}.`, "ok");
  window.history.replaceState(null, "", "/");
}

const ALERTS = new Set(["died", "oom", "unhealthy", "channel_down", "budget_exceeded"]);
const MODES = { live: "Live", polling: "Updating every 5 s", reconnecting: "Reconnecting…" };
let streamMode = null;
/** Green "Live" only while the stream is open and the engine answers (its statuses). */
function showLiveState() {
  if (streamMode === null) return;
  const down = engineState() === "down";
  liveState.textContent = down ? "Engine down: statuses not updating" : MODES[streamMode] || streamMode;
  liveState.dataset.live = streamMode === "live" && !down ? "on" : "off";
}
document.addEventListener("enginechange", showLiveState);
refresh().then(() => {
  watchFleet({
    onStatus: (data) => setStatus(data.id, data.status, data.name, data),
    onResync: refresh,
    onEngine: showEngine,
    onChannels: (data) => {
      const bot = bots.get(data.id);
      if (!bot) return;
      bot.channel_status = data.channel_status;
      render();
    },
    onEvent: (data) => {
      if (data && ALERTS.has(data.kind) && bots.has(data.bot_id || data.id)) {
        const bot = bots.get(data.bot_id || data.id);
        toast(`${bot.name}: ${data.kind}${data.detail ? ` — ${data.detail}` : ""}`);
      }
    },
    onMode: (mode) => {
      streamMode = mode;
      showLiveState();
    },
  });
  every(10_000, pollStats);
});
// The engine is back: the list (and its statuses) again.
document.addEventListener("enginechange", (event) => {
  if (event.detail.state === "up") refresh();
});
window.setInterval(() => {
  for (const [id, card] of cards) {
    const bot = bots.get(id);
    if (bot && st.isUp(bot.status)) card.parts.uptime.textContent = fmt.since(startedAt(bot));
  }
}, 1000);

// One bot: status and actions, live logs, resources, configuration, usage, events, token.

import "../lib/common.js";
import { announce, toast } from "../lib/notify.js";
import { runAction } from "../lib/action.js";
import { api, ApiError, optional } from "../lib/api.js";
import { lineChart } from "../lib/chart.js";
import { chosenRange, rangeControl, rangeSeries } from "../lib/statsrange.js";
import { $, dl, h } from "../lib/dom.js";
import { ChatPanel } from "../lib/chat.js";
import { renderChannelHealth } from "../lib/channelhealth.js";
import { mountChannelLogins } from "../lib/channellogin.js";
import { showDiagnosis } from "../lib/diagnosis.js";
import { confirmDelete } from "../lib/dialog.js";
import { EGRESS_DENIED, mountEgress } from "../lib/egress.js";
import { mountBotEdit, mountExport, mountImage, mountRenderedConfig } from "../lib/botedit.js";
import { clearErrors, listOf, showApiError } from "../lib/fields.js";
import * as fmt from "../lib/format.js";
import { every, watchFleet } from "../lib/live.js";
import { askKeyring } from "../lib/keyring.js";
import { LogViewer } from "../lib/logviewer.js";
import { mountPairing } from "../lib/pairing.js";
import * as st from "../lib/status.js";

const root = $("#bot-root");
const botId = root.dataset.botId;
const base = `/api/bots/${encodeURIComponent(botId)}`;
const configForm = $("#config-form");
const chat = new ChatPanel($("#chat-card"), { base, botId });
let bot = null;
let catalog = { providers: [], channels: [] };
let viewer = null;
let egress = null; // the Network access panel
let edit = null; // provider, channel, limits, budget settings and the live preview (lib/botedit.js)
let tools = null; // the Image, Export and openclaw.json cards

const c = {
  personaName: $("#c-persona-name"),
  emoji: $("#c-persona-emoji"),
  soul: $("#c-soul"),
  userNotes: $("#c-user-notes"),
  model: $("#c-model"),
  fallbacks: $("#c-fallbacks"),
  heartbeat: $("#c-heartbeat"),
  dmPolicy: $("#c-dm-policy"),
  allowFrom: $("#c-allow-from"),
};

function showError(message) {
  const box = $("#bot-error");
  box.textContent = message;
  box.hidden = !message;
}

// -- header -------------------------------------------------------------------------------

function renderHead() {
  const persona = bot.persona || {};
  $("#bot-emoji").textContent = persona.emoji || bot.name[0].toUpperCase();
  $("#bot-persona").textContent = persona.name || bot.name;
  $("#bot-name").textContent = bot.name;
  $("#bot-model").textContent = `${bot.provider}/${bot.model}`;
  $("#bot-channels").textContent = (bot.channels || [bot.channel]).join(", ");
  renderChannelHealth($("#bot-channel-health"), st.isUp(bot.status) ? bot.channel_status : null);
  st.badge(bot.status, $("#bot-badge"));
  const reason = st.reason(bot.status);
  $("#bot-reason").textContent = reason;
  $("#bot-reason").hidden = !reason || st.summaryOf(bot.status) === "healthy";
  renderUptime();
  const up = st.isUp(bot.status);
  const creating = bot.state === "creating";
  $('[data-action="start"]').disabled = up || creating;
  $('[data-action="stop"]').disabled = !up || creating;
  $('[data-action="restart"]').disabled = creating;
  chat.setAvailable(up && !creating);
  document.title = `${bot.name} · BotMaker`;
  renderDetails();
}

function renderUptime() {
  const up = bot && st.isUp(bot.status);
  const status = bot ? bot.status : null;
  let text = "";
  if (up) text = `up ${fmt.since(bot.started_at || status.started_at)}`;
  else if (status && status.finished_at && fmt.parseTime(status.finished_at)) text = `since ${fmt.when(status.finished_at)}`;
  $("#bot-uptime").textContent = text;
}

function renderDetails() {
  const pairs = [
    ["Id", bot.id],
    ["Container", bot.container_name],
    ["Image", bot.image],
    ["Image digest", bot.image_digest || "— (recorded at its first upgrade)"],
    ["Created", fmt.when(bot.created_at)],
    ["Keyring", bot.keyring ? "yes (the bot holds only a keyring token)" : "no"],
    ["Secrets", (bot.secrets || []).join(", ") || "—"],
  ];
  if (bot.openclaw) pairs.push(["OpenClaw", `${bot.openclaw.version || "?"} · ${bot.openclaw.cli}`], ...logins());
  if (bot.status && bot.status.node) pairs.push(["Node", bot.status.node]);
  if (bot.desired) pairs.push(["Wanted", bot.desired]);
  if (bot.status && bot.status.detail) pairs.push(["Detail", bot.status.detail]);
  $("#details").replaceWith(Object.assign(dl(pairs, "details"), { id: "details" }));
}

// A channel that needs an interactive login (a QR code): the command for this bot's
// container, with the CLI its image has (the official image has no `openclaw` on PATH);
// a hint that is another program (signal-cli) runs as it is in the container.
function logins() {
  const exec = bot.openclaw.exec.slice(0, bot.openclaw.exec.length - bot.openclaw.cli.length);
  return (bot.channels || [])
    .map((id) => catalog.channels.find((ch) => ch.id === id))
    .filter((ch) => ch && ch.interactive_login && ch.login_hint)
    .map((ch) => [
      `Log in ${ch.label || ch.id}`,
      ch.login_hint.startsWith("openclaw ") ? `${bot.openclaw.exec} ${ch.login_hint.replace(/^openclaw /, "")}` : `${exec}${ch.login_hint}`,
    ]);
}

function setStatus(status, extra = {}) {
  if (extra.deleted) {
    showError("This bot was deleted.");
    return;
  }
  const before = st.label(bot.status);
  bot.status = status;
  if ("started_at" in extra) bot.started_at = extra.started_at;
  renderHead();
  const after = st.label(status);
  if (before !== after) announce(`${bot.name} is now ${after}`);
  ensureLogs();
  if (before !== after) diagnoseIfLooping();
}

/** The Image, Export and openclaw.json cards (lib/botedit.js); refresh(bot) after a change. */
function mountTools() {
  const image = mountImage($("#image-card"), { base, canEdit: can.has("bot.edit"), onChange: reload });
  if (can.has("admin.backup")) mountExport($("#export-card"), { botId, name: bot.name });
  else $("#export-card").hidden = true;
  const rendered = mountRenderedConfig($("#rendered-card"), { base });
  return {
    refresh(current) {
      image.fill(current);
      rendered.refresh();
    },
  };
}

async function reload() {
  try {
    bot = await api(base);
    showError("");
    if (tools) tools.refresh(bot);
    renderHead();
    ensureLogs();
  } catch (err) {
    if (err instanceof ApiError && err.status === 404) showError("This bot no longer exists.");
    else showError(`Could not load the bot: ${err.message}`);
  }
}

// -- diagnosis ----------------------------------------------------------------------------------

/** Show the diagnosis (crash loop, last config diff, log tail); on demand, or by itself
 *  when the bot starts crash-looping. */
async function diagnose() {
  const body = $("#diag-body");
  try {
    await showDiagnosis(body, base, bot.name);
    $("#diag-hint").hidden = true;
  } catch (err) {
    body.replaceChildren(h("p", { class: "notice notice-error" }, `Could not diagnose the bot: ${err.message}`));
  }
}

function diagnoseIfLooping() {
  if (st.summaryOf(bot.status) === "crash_loop") diagnose();
}

$("#diag-load").addEventListener("click", () => {
  if (bot) diagnose();
});

// -- actions ------------------------------------------------------------------------------------

const DONE = { start: "started", stop: "stopped", restart: "restarted" };

async function act(action, button) {
  if (action === "delete") {
    const done = await confirmDelete(bot.name, () => api(base, { method: "DELETE" }));
    if (done) window.location.assign(`/?deleted=${encodeURIComponent(bot.name)}`);
    return;
  }
  await runAction(button, () => api(`${base}/${action}`, { method: "POST" }), {
    subject: bot.name,
    done: (updated) => {
      bot = { ...bot, ...updated };
      setStatus(updated.status, { started_at: updated.started_at });
    },
    ok: `${DONE[action]}.`,
    refresh: renderHead,
  });
}

$("#bot-actions").addEventListener("click", (event) => {
  const button = event.target.closest("button[data-action]");
  if (button && bot) act(button.dataset.action, button);
});

// -- logs -----------------------------------------------------------------------------------------

let logsContainer = null; // the container the viewer follows (or last followed)

/** Follow the bot's container again if the stream ended: all of a new container's log,
 *  only the last lines of a restarted one (they were shown before). */
function ensureLogs() {
  if (!viewer || !viewer.ended || viewer.searching || !bot || !st.isUp(bot.status)) return;
  const container = bot.status.container_id || null;
  const fresh = container !== logsContainer;
  logsContainer = container;
  viewer.meta(fresh ? "— a new container —" : "— following the container again —");
  viewer.connect(`${base}/logs?tail=${fresh ? 1000 : 20}`);
}

function startLogs() {
  viewer = new LogViewer($("#bot-logs"), { name: bot.name, label: `Logs of ${bot.name}`, search: true });
  viewer.onEnd = (reason) => window.setTimeout(ensureLogs, reason === "error" ? 3000 : 500);
  logsContainer = bot.status.container_id || null;
  viewer.connect(`${base}/logs?tail=200`);
}

// -- configuration ------------------------------------------------------------------------------

function formValues() {
  return {
    personaName: c.personaName.value,
    emoji: c.emoji.value,
    soul: c.soul.value,
    userNotes: c.userNotes.value,
    model: c.model.value.trim(),
    fallbacks: listOf(c.fallbacks.value).join(","),
    heartbeat: c.heartbeat.checked,
    dmPolicy: c.dmPolicy.value,
    allowFrom: listOf(c.allowFrom.value, /\n/).join("\n"),
  };
}

let initial = null;

function fillConfig() {
  const config = bot.config || {};
  const persona = config.persona || {};
  c.personaName.value = persona.name || "";
  c.emoji.value = persona.emoji || "";
  c.soul.value = persona.soul || "";
  c.userNotes.value = persona.user_notes || "";
  c.model.value = bot.model;
  c.fallbacks.value = (config.fallbacks || []).join(", ");
  c.heartbeat.checked = Boolean(config.heartbeat);
  const channels = config.channels || [];
  const single = channels.length === 1 ? channels[0] : null;
  const entry = single && catalog.channels.find((ch) => ch.id === single.type);
  const policies = entry ? entry.dm_policies : [];
  c.dmPolicy.replaceChildren(...policies.map((p) => h("option", { value: p }, p)));
  if (single && single.dm_policy) c.dmPolicy.value = single.dm_policy;
  $("#c-dm-group").hidden = !single || policies.length === 0;
  c.allowFrom.value = single ? (single.allow_from || []).join("\n") : "";
  $("#c-allow-group").hidden = !single || policies.length === 0;
  const provider = catalog.providers.find((p) => p.id === bot.provider);
  $("#c-model-options").replaceChildren(...(provider ? provider.models : []).map((m) => h("option", { value: m })));
  initial = formValues();
  if (edit) edit.fill(bot);
}

function buildPatch() {
  const now = formValues();
  const patch = {};
  if (["personaName", "emoji", "soul", "userNotes"].some((k) => now[k] !== initial[k])) {
    patch.persona = { name: now.personaName.trim(), emoji: now.emoji.trim(), soul: now.soul, user_notes: now.userNotes };
  }
  if (now.model !== initial.model) patch.model = now.model;
  if (now.fallbacks !== initial.fallbacks) patch.fallbacks = listOf(c.fallbacks.value);
  if (now.heartbeat !== initial.heartbeat) patch.heartbeat = now.heartbeat;
  if (!$("#c-dm-group").hidden) {
    if (now.dmPolicy !== initial.dmPolicy) patch.dm_policy = now.dmPolicy;
    if (now.allowFrom !== initial.allowFrom) patch.allow_from = listOf(c.allowFrom.value, /\n/);
  }
  return patch;
}

configForm.addEventListener("submit", async (event) => {
  event.preventDefault();
  clearErrors(configForm, $("#config-error"), $("#config-ok"));
  if (!configForm.reportValidity()) return;
  const patch = { ...buildPatch(), ...(edit ? edit.patch() : {}) };
  if (edit) edit.cancel();
  if (Object.keys(patch).length === 0) {
    $("#config-ok").textContent = "Nothing changed.";
    $("#config-ok").hidden = false;
    return;
  }
  await runAction($("#config-apply"), () => api(base, { method: "PATCH", body: patch }), {
    busyText: "Applying…",
    done: applied,
    fail: (err) => showApiError(configForm, err, $("#config-error")),
  });
});

/** The bot as the edit left it: the form, the header, and the logs of a new container. */
function applied(updated) {
  const restarted = !bot || updated.container_id !== bot.container_id;
  bot = updated;
  fillConfig();
  renderHead();
  if (tools) tools.refresh(bot);
  $("#config-ok").textContent = restarted
    ? "Applied: the bot restarted with the new configuration."
    : "Applied: the keyring enforces it now; the bot kept running.";
  $("#config-ok").hidden = false;
  announce(`${bot.name}: configuration applied`);
  if (viewer && bot.status.container_id !== logsContainer) {
    viewer.disconnect(); // the old container is gone: follow the new one from its start
    viewer.ended = true;
    ensureLogs();
  }
}

configForm.addEventListener("reset", (event) => {
  event.preventDefault();
  clearErrors(configForm, $("#config-error"), $("#config-ok"));
  fillConfig();
});

// -- stats ----------------------------------------------------------------------------------------

let statsRange = chosenRange();
let statsAsked = 0; // the latest request wins when the range changes mid-flight

async function loadStats() {
  let data;
  const asked = ++statsAsked;
  const range = statsRange;
  try {
    data = await optional(`${base}/stats?hours=${range.hours}`);
  } catch {
    return true;
  }
  if (asked !== statsAsked) return true;
  if (data === null) {
    $("#stats-missing").hidden = false;
    $("#charts").hidden = true;
    return true;
  }
  $("#stats-missing").hidden = true;
  $("#charts").hidden = false;
  const s = rangeSeries(data, range);
  const shared = { span: range.hours * 3600_000, words: range.words };
  lineChart($("#chart-cpu"), { ...shared, title: "CPU", series: [{ label: "cpu", points: s.cpu }], format: fmt.percent, minMax: 5 });
  lineChart($("#chart-mem"), {
    ...shared,
    title: "Memory",
    series: [{ label: "memory", points: s.memory }],
    format: fmt.bytes,
    minMax: 16 * 1024 * 1024,
  });
  lineChart($("#chart-net"), {
    ...shared,
    title: "Network",
    series: [
      { label: "in", points: s.rxRate },
      { label: "out", points: s.txRate },
    ],
    format: fmt.rate,
    minMax: 1024,
  });
  $("#stats-range-words").textContent = `· ${range.words.replace(/^the /, "")}`;
  $("#stats-now").textContent = s.latestAt !== null ? `updated ${fmt.when(s.latestAt)}` : "no samples in this range yet";
  return true;
}

rangeControl($("#stats-range"), statsRange, (range) => {
  statsRange = range;
  loadStats();
});

// -- usage, events, token ---------------------------------------------------------------------

function meter(used, limit) {
  if (!limit) return null;
  const ratio = Math.min(1, used / limit);
  const bar = h("span");
  bar.style.width = `${(ratio * 100).toFixed(1)}%`; // CSSOM: allowed by the CSP
  return h("div", { class: `meter${used >= limit ? " over" : ""}`, role: "img", "aria-label": `${fmt.count(used)} of ${fmt.count(limit)}` }, bar);
}

async function loadUsage() {
  const body = $("#usage-body");
  const keyring = await askKeyring((text) => body.replaceChildren(h("p", { class: "muted" }, text)));
  if (!keyring) return;
  if (!keyring.enabled) {
    body.replaceChildren(h("p", { class: "muted" }, "The keyring is off (BOTMAKER_KEYRING=off): this bot holds its provider key itself, and nothing meters what it spends."));
    return;
  }
  if (!bot.keyring) {
    body.replaceChildren(h("p", { class: "muted" }, "This bot does not go through the keyring (it was created without a keyed provider)."));
    return;
  }
  let usage;
  try {
    usage = await api("/api/usage");
  } catch (err) {
    body.replaceChildren(h("p", { class: "muted" }, `Usage is not available: ${err.message}`));
    return;
  }
  const row = (usage.bots || {})[bot.id];
  if (!row) {
    body.replaceChildren(h("p", { class: "muted" }, "No requests yet."));
    return;
  }
  const budget = row.budget || {};
  const line = (label, used, limit) => [
    h("dt", {}, label),
    h("dd", {}, `${fmt.count(used)}${limit ? ` / ${fmt.count(limit)}` : ""}`, meter(used, limit)),
  ];
  body.replaceChildren(
    h(
      "dl",
      { class: "kv" },
      line("Tokens today", row.today.tokens, budget.daily_tokens),
      line("Tokens this month", row.month.tokens, budget.monthly_tokens),
      line("Requests today", row.today.requests, budget.daily_requests),
      line("Requests this month", row.month.requests, budget.monthly_requests),
      h("dt", {}, "Errors · refused"),
      h("dd", {}, `${fmt.count(row.month.errors)} · ${fmt.count(row.month.rejected)}`),
      h("dt", {}, "Rate limit"),
      h("dd", {}, budget.requests_per_minute ? `${budget.requests_per_minute}/min` : "none"),
    ),
  );
}

function eventItem(event) {
  const bad = /die|oom|exit|fail|unhealthy|kill|budget/i.test(event.kind) && event.exit_code !== 0;
  const ok = /start|healthy|create/i.test(event.kind) && !/unhealthy/i.test(event.kind);
  const logs = Array.isArray(event.logs) ? event.logs.join("\n") : event.logs;
  return h(
    "li",
    { class: bad ? "event-bad" : ok ? "event-ok" : "" },
    h("span", { class: "event-kind" }, event.kind),
    event.exit_code !== null && event.exit_code !== undefined ? ` (exit code ${event.exit_code})` : null,
    event.cause ? [" · ", h("span", { class: "event-cause" }, event.cause)] : null,
    " · ",
    h("time", { class: "muted small" }, fmt.when(event.at)),
    event.detail ? h("div", {}, event.detail) : null,
    logs ? h("details", {}, h("summary", { class: "small" }, "Last log lines"), h("pre", {}, logs)) : null,
  );
}

async function loadEvents() {
  let data;
  try {
    data = await optional(`${base}/events`);
  } catch {
    return;
  }
  const events = data ? data.events || [] : [];
  const empty = $("#events-empty");
  empty.textContent = data === null ? "Events are not available on this server." : "No events yet.";
  empty.hidden = events.length > 0;
  const sorted = [...events].sort((a, b) => (fmt.parseTime(b.at) || 0) - (fmt.parseTime(a.at) || 0));
  $("#events").replaceChildren(...sorted.slice(0, 50).map(eventItem));
}

// -- Control UI: device (browser) pairing ---------------------------------------------------------

function deviceLine(device) {
  const parts = [device.client || "browser", device.platform, device.role, device.address].filter(Boolean);
  return parts.join(" · ");
}

function pendingItem(request) {
  const li = h("li", { class: "row row-wrap device" });
  const label = h("span", { class: "grow" }, deviceLine(request));
  const scopes = h("span", { class: "muted small" }, (request.scopes || []).join(", "));
  const approve = h("button", { type: "button", class: "btn btn-primary", "data-action": "approve" }, "Approve");
  const deny = h("button", { type: "button", class: "btn", "data-action": "deny" }, "Deny");
  for (const button of [approve, deny]) {
    button.addEventListener("click", async () => {
      approve.disabled = deny.disabled = true;
      try {
        await api(`${base}/devices/${encodeURIComponent(request.request_id)}/${button.dataset.action}`, { method: "POST" });
        toast(button.dataset.action === "approve" ? "Browser approved." : "Request denied.", "ok");
      } catch (err) {
        toast(err.message, "error");
      }
      loadDevices();
    });
  }
  li.append(label, scopes, approve, deny);
  return li;
}

async function loadDevices() {
  const note = $("#devices-note");
  if (!bot || !bot.status || bot.status.state !== "running") {
    $("#devices-pending").replaceChildren();
    $("#devices-empty").hidden = false;
    return true;
  }
  let data;
  try {
    data = await api(`${base}/devices`);
  } catch (err) {
    note.textContent = err.message;
    return true;
  }
  note.textContent = "A browser opening the Control UI for the first time asks this bot to pair it. Approve it here.";
  $("#devices-pending").replaceChildren(...data.pending.map(pendingItem));
  $("#devices-empty").hidden = data.pending.length > 0;
  $("#devices-paired-count").textContent = String(data.paired.length);
  $("#devices-paired").replaceChildren(
    ...data.paired.map((d) => h("li", {}, `${deviceLine(d)}${d.connected ? " · connected" : ""}`)),
  );
  return true;
}

// -- start ----------------------------------------------------------------------------------------

/** What this user may do here (the server's policy, given to the page); the rest is hidden. */
const can = new Set((document.body.dataset.can || "").split(" ").filter(Boolean));

function hideWhatIsNotAllowed() {
  const hide = (selector) => {
    const node = document.querySelector(selector);
    if (node) node.hidden = true;
  };
  if (!can.has("bot.operate")) for (const a of ["start", "stop", "restart"]) hide(`#bot-actions [data-action="${a}"]`);
  if (!can.has("bot.delete")) hide('#bot-actions [data-action="delete"]');
  if (!can.has("bot.edit")) hide('section[aria-labelledby="config-title"]');
  if (!can.has("bot.access")) for (const id of ["#chat-card", "#ui-card", "#login-card", "#pairing-card"]) hide(id);
}

async function start() {
  hideWhatIsNotAllowed();
  try {
    const [b, providers, channels] = await Promise.all([api(base), api("/api/providers"), api("/api/channels")]);
    bot = b;
    catalog = { providers: providers.providers, channels: channels.channels };
  } catch (err) {
    showError(err instanceof ApiError && err.status === 404 ? "This bot no longer exists." : `Could not load the bot: ${err.message}`);
    return;
  }
  edit = mountBotEdit(configForm, { base, catalog, basePatch: buildPatch });
  tools = mountTools();
  renderHead();
  fillConfig();
  tools.refresh(bot);
  startLogs();
  diagnoseIfLooping();
  loadUsage();
  egress = mountEgress($("#egress-card"), { base, canEdit: can.has("bot.edit"), subject: bot.name });
  egress.refresh();
  if (can.has("bot.access")) {
    mountPairing($("#pairing-card"), bot);
    loadDevices();
    every(5_000, loadDevices);
    mountChannelLogins($("#login-card"), bot, catalog.channels);
  }
  every(15_000, loadStats);
  every(15_000, async () => {
    await loadEvents();
    return true;
  });
  watchFleet({
    onStatus: (data) => {
      if (data.id === botId) setStatus(data.status, data);
    },
    onResync: () => {
      reload();
      egress.refresh();
    },
    onChannels: (data) => {
      if (data.id !== botId || !bot) return;
      bot.channel_status = data.channel_status;
      renderHead();
    },
    onEvent: (data) => {
      if ((data.bot_id || data.id) !== botId) return;
      loadEvents();
      if (data.kind === EGRESS_DENIED) egress.refresh();
    },
  });
  window.setInterval(renderUptime, 1000);
  root.dataset.ready = "true";
}

start();

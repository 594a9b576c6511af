// Diagnostics: the engine, the fleet, the keyring, orphans with a clean-up, and alerts.

import "../lib/common.js";
import { announce, toast } from "../lib/notify.js";
import { runAction } from "../lib/action.js";
import { api, optional } from "../lib/api.js";
import { $, dl, h } from "../lib/dom.js";
import { confirmDialog } from "../lib/dialog.js";
import { engineError } from "../lib/engine.js";
import { clearErrors, listOf, showApiError } from "../lib/fields.js";
import * as fmt from "../lib/format.js";

const MISSING = "Not available on this server yet.";

function value(v) {
  if (v === null || v === undefined || v === "") return "—";
  if (typeof v === "boolean") return v ? "yes" : "no";
  if (Array.isArray(v)) return v.map(value).join(", ") || "—";
  if (typeof v === "object") return Object.entries(v).map(([k, x]) => `${k}: ${value(x)}`).join(", ") || "—";
  return String(v);
}

const WORDS = { api: "API", os: "OS", cpus: "CPUs", cpu: "CPU", id: "id", url: "URL" };

function pretty(key) {
  const words = String(key).replace(/_bytes$/, "").split("_");
  return fmt.capitalize(words.map((w) => WORDS[w] || w).join(" "));
}

function shown(key, v) {
  if (typeof v === "number" && /_bytes$/.test(key)) return fmt.bytes(v);
  if (typeof v === "number" && /_percent$/.test(key)) return fmt.percent(v);
  return value(v);
}

function state(ok, text) {
  return h("span", { class: `badge badge-${ok ? "ok" : "bad"}` }, text);
}

function renderEngine(engine) {
  const box = $("#diag-engine");
  if (!engine) return box.replaceChildren(h("p", { class: "muted" }, MISSING));
  if (engine.ok === false) {
    return box.replaceChildren(state(false, "down"), h("p", {}, engine.message || "The engine does not answer."));
  }
  const pairs = Object.entries(engine).filter(([k]) => k !== "ok").map(([k, v]) => [pretty(k), shown(k, v)]);
  return box.replaceChildren(state(true, "answering"), dl(pairs));
}

function renderFleet(fleet, monitor) {
  const box = $("#diag-fleet");
  if (!fleet) return box.replaceChildren(h("p", { class: "muted" }, MISSING));
  const byStatus = Object.entries(fleet.by_status || {});
  const pairs = [
    ["Bots", value(fleet.bots)],
    ["CPU", fmt.percent(fleet.cpu_percent)],
    ["Memory", fmt.bytes(fleet.memory_bytes)],
  ];
  if (monitor) {
    pairs.push(["Live events", monitor.connected ? "following Docker" : "reconnecting"]);
    if (monitor.subscribers !== undefined) pairs.push(["Watchers", value(monitor.subscribers)]);
  }
  return box.replaceChildren(
    dl(pairs),
    byStatus.length
      ? h("p", { class: "row row-wrap" }, byStatus.map(([s, n]) => h("span", { class: "tag" }, `${s} ${n}`)))
      : null,
  );
}

function renderKeyring(keyring) {
  const box = $("#diag-keyring");
  if (!keyring) return box.replaceChildren(h("p", { class: "muted" }, MISSING));
  if (!keyring.enabled) return box.replaceChildren(state(true, "off"), h("p", { class: "muted" }, "BOTMAKER_KEYRING=off: bots hold their own keys."));
  const ok = keyring.ok !== false && !keyring.locked;
  const pairs = Object.entries(keyring)
    .filter(([k]) => !["enabled", "ok"].includes(k))
    .map(([k, v]) => [pretty(k), shown(k, v)]);
  return box.replaceChildren(state(ok, keyring.locked ? "locked" : ok ? "running" : "not answering"), dl(pairs));
}

function orphanText(item) {
  if (typeof item === "string") return item;
  const main = item.name || item.path || item.id || "";
  const rest = Object.entries(item)
    .filter(([k, v]) => !["name", "path"].includes(k) && v !== null && v !== undefined && v !== "")
    .filter(([k]) => !(k === "id" && !item.name && !item.path))
    .map(([k, v]) => (k === "age_seconds" ? `age ${fmt.duration(v)}` : `${k}=${value(v)}`))
    .join(" · ");
  return rest ? `${main}  (${rest})` : main;
}

/** The report's lists ("containers", "secrets", "state"…), without "failed". */
function groups(report) {
  return Object.entries(report || {}).filter(([k, v]) => Array.isArray(v) && k !== "failed");
}

let orphans = null;

function renderOrphans(data) {
  orphans = data;
  const box = $("#orphans");
  const button = $("#cleanup");
  if (!data) {
    button.disabled = true;
    return box.replaceChildren(h("p", { class: "muted" }, MISSING));
  }
  const total = groups(data).reduce((n, [, items]) => n + items.length, 0);
  button.disabled = total === 0;
  if (total === 0) return box.replaceChildren(h("p", { class: "notice notice-ok" }, "No orphans: every container and folder belongs to a bot."));
  return box.replaceChildren(
    ...groups(data)
      .filter(([, items]) => items.length)
      .flatMap(([key, items]) => [
        h("h3", {}, `${pretty(key)} (${items.length})`),
        h("ul", { class: "orphan-list" }, items.map((i) => h("li", {}, orphanText(i)))),
      ]),
  );
}

function renderNodes(data, problem, fleet) {
  const table = $("#nodes-table");
  const note = $("#nodes-note");
  const count = $("#nodes-count");
  count.hidden = true;
  if (!data) {
    table.hidden = true;
    note.hidden = false;
    note.textContent = data === null ? MISSING : `Not known: ${problem}`;
    return;
  }
  $("#nodes-runtime").textContent =
    data.runtime === "swarm"
      ? "Bots run as Swarm services (BOTMAKER_RUNTIME=swarm); Swarm places each on a node."
      : "Bots run as containers on this one Docker engine (BOTMAKER_RUNTIME=docker).";
  const nodes = data.nodes || [];
  $("#nodes-body").replaceChildren(
    ...nodes.map((n) =>
      h("tr", { "data-node": n.hostname || n.id }, [
        // Only a swarm has a leader (among its managers); a standalone engine is just one.
        h("td", {}, [n.hostname || n.id, data.runtime === "swarm" && n.leader ? h("span", { class: "tag" }, " leader") : null]),
        h("td", {}, value(n.role)),
        h("td", {}, state(n.state === "ready", value(n.state))),
        h("td", {}, value(n.availability)),
        h("td", {}, value(n.cpus)),
        h("td", {}, typeof n.memory_bytes === "number" ? fmt.bytes(n.memory_bytes) : "—"),
        h("td", {}, value(n.engine_version)),
        h("td", { "data-bots": "" }, value(n.bots)),
      ]),
    ),
  );
  table.hidden = nodes.length === 0;
  note.hidden = nodes.length !== 0;
  note.textContent = nodes.length ? "" : "No nodes reported.";
  // The fleet counts every bot; a node only the ones running on it: say both.
  if (fleet && typeof fleet.bots === "number") {
    const running = nodes.reduce((sum, n) => sum + (typeof n.bots === "number" ? n.bots : 0), 0);
    count.textContent = `${running} of ${fleet.bots} bot${fleet.bots === 1 ? "" : "s"} running on ${nodes.length === 1 ? "this node" : "these nodes"}; a stopped bot runs on none.`;
    count.hidden = false;
  }
}

async function load() {
  const error = $("#diag-error");
  error.hidden = true;
  const problems = [];
  let orphansProblem = "";
  // Each part on its own: orphans need the engine, the rest still shows when it is down.
  let nodesProblem = "";
  const [diag, orphanData, nodeData] = await Promise.all([
    optional("/api/diagnostics").catch((err) => problems.push(`the diagnostics: ${err.message}`) && undefined),
    optional("/api/admin/orphans").catch((err) => {
      engineError(err);
      problems.push(`the orphans: ${err.message}`);
      orphansProblem = err.message;
      return undefined;
    }),
    optional("/api/nodes").catch((err) => {
      nodesProblem = err.message;
      return undefined;
    }),
  ]);
  renderNodes(nodeData, nodesProblem, diag && diag.fleet);
  if (diag !== undefined) {
    renderEngine(diag && diag.engine);
    renderFleet(diag && diag.fleet, diag && diag.monitor);
    renderKeyring(diag ? diag.keyring : await api("/api/keyring").catch(() => null));
  }
  if (orphanData !== undefined) renderOrphans(orphanData);
  else {
    $("#cleanup").disabled = true;
    $("#orphans").replaceChildren(h("p", { class: "muted" }, `Not known: ${orphansProblem}`));
  }
  if (problems.length) {
    error.textContent = `Could not load ${problems.join("; ")}`;
    error.hidden = false;
  }
}

$("#diag-refresh").addEventListener("click", load);
// The engine went down or came back (engine.js): show its card, the fleet and orphans anew.
document.addEventListener("enginechange", load);
$("#cleanup").addEventListener("click", async () => {
  const count = groups(orphans).reduce((n, [, items]) => n + items.length, 0);
  $("#cleanup-text").textContent = `Removes the ${count} orphan(s) listed (containers are force-removed). Bots are not touched.`;
  const result = await confirmDialog($("#cleanup-dialog"), {
    submit: $("#cleanup-submit"),
    cancel: $("#cleanup-cancel"),
    error: $("#cleanup-error"),
    action: async () => (await api("/api/admin/cleanup", { method: "POST" })) ?? true,
  });
  if (result !== null) {
    const failed = (result && result.failed) || [];
    if (failed.length) toast(`Some could not be removed: ${failed.map(orphanText).join("; ")}`, "error");
    else toast("Orphans removed.", "ok");
    announce(failed.length ? "Clean-up partly failed" : "Orphans removed");
    load();
  }
});

// -- alerts ------------------------------------------------------------------------

const alertsForm = $("#alerts-form");

function fillAlerts(settings) {
  alertsForm.elements.webhook_url.value = settings.webhook_url || "";
  const email = settings.email || {};
  const f = alertsForm.elements;
  f.email_host.value = email.host || "";
  f.email_port.value = email.port || "";
  f.email_security.value = email.security || "starttls";
  f.email_from.value = email.from_address || "";
  f.email_to.value = (email.to || []).join("\n");
  f.email_username.value = email.username || "";
  alertsForm.elements.min_interval_seconds.value = settings.min_interval_seconds;
  alertsForm.elements.channel_down_after_seconds.value = settings.channel_down_after_seconds;
  for (const box of alertsForm.querySelectorAll('input[name="events"]')) box.checked = settings.events.includes(box.value);
}

function alertsFailed(err) {
  showApiError(alertsForm, err, $("#alerts-error"));
}

/** The email settings of the form; null when every email field is empty (no email). */
function emailBody() {
  const f = alertsForm.elements;
  const texts = [f.email_host, f.email_port, f.email_from, f.email_to, f.email_username].map((i) => i.value.trim());
  if (texts.every((t) => !t)) return null;
  const body = {
    host: f.email_host.value.trim(),
    security: f.email_security.value,
    from_address: f.email_from.value.trim(),
    to: listOf(f.email_to.value),
    username: f.email_username.value.trim() || null,
  };
  if (f.email_port.value.trim()) body.port = Number(f.email_port.value);
  return body;
}

const CHANNELS = { webhook: "webhook", email: "email" };

function channelText(name, result) {
  if (result.delivered) return `${CHANNELS[name] || name}: delivered`;
  return `${CHANNELS[name] || name}: not delivered (${result.error || `the webhook answered ${result.status}`})`;
}

async function loadAlerts() {
  try {
    const settings = await optional("/api/alerts");
    if (settings) fillAlerts(settings);
  } finally {
    // Filled (or known unavailable): typing can no longer be overwritten by the load.
    alertsForm.setAttribute("aria-busy", "false");
    alertsForm.dataset.state = "ready";
  }
}

alertsForm.addEventListener("submit", async (event) => {
  event.preventDefault();
  if (alertsForm.dataset.state !== "ready") return; // the saved settings are still loading
  clearErrors(alertsForm, $("#alerts-error"));
  const body = {
    webhook_url: alertsForm.elements.webhook_url.value.trim() || null,
    email: emailBody(),
    events: [...alertsForm.querySelectorAll('input[name="events"]:checked')].map((box) => box.value),
    min_interval_seconds: Number(alertsForm.elements.min_interval_seconds.value || 0),
    channel_down_after_seconds: Number(alertsForm.elements.channel_down_after_seconds.value || 0),
  };
  await runAction($('button[type="submit"]', alertsForm), () => api("/api/alerts", { method: "PUT", body }), {
    done: (saved) => {
      fillAlerts(saved);
      // A test result was about the settings before this save: no longer true.
      $("#alerts-test-result").hidden = true;
    },
    ok: "Alert settings saved.",
    fail: alertsFailed,
  });
});

/** What the test alert did, channel by channel, in the form and a toast. */
function showTestResult(result) {
  const channels = Object.entries(result.channels || {});
  const text = channels.length ? channels.map(([name, r]) => channelText(name, r)).join("; ") : result.error;
  const box = $("#alerts-test-result");
  box.textContent = `Test alert — ${text}.`;
  box.className = `notice ${result.delivered ? "notice-ok" : "notice-error"}`;
  box.hidden = false;
  toast(result.delivered ? "Test alert delivered." : "Test alert not delivered everywhere.", result.delivered ? "ok" : "error");
}

$("#alerts-test").addEventListener("click", async (event) => {
  $("#alerts-error").hidden = true;
  await runAction(event.currentTarget, () => api("/api/alerts/test", { method: "POST" }), {
    done: showTestResult,
    fail: alertsFailed,
  });
});

load();
loadAlerts();

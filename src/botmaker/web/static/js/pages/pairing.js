// The DM pairing inbox: every running bot's senders waiting for approval.

import "../lib/common.js";
import { api } from "../lib/api.js";
import { $, h } from "../lib/dom.js";
import { whileBusy } from "../lib/action.js";
import { requestRow } from "../lib/pairing.js";

const state = $("#pairing-state");

function render(bots) {
  const rows = bots.flatMap((bot) => bot.requests.map((req) => requestRow(bot, req, { refresh: load, withBot: true })));
  $("#pairing-body").replaceChildren(...rows);
  $("#pairing-table").hidden = rows.length === 0;
  const failed = bots.filter((bot) => bot.error);
  $("#pairing-errors").replaceChildren(
    ...failed.map((bot) => h("li", {}, h("a", { href: `/bots/${encodeURIComponent(bot.id)}` }, bot.name), `: ${bot.error}`)),
  );
  $("#pairing-errors-box").hidden = failed.length === 0;
  state.className = rows.length ? "notice notice-warn" : "notice";
  if (!bots.length) state.textContent = "No running bot has a channel whose DM policy is pairing.";
  else if (!rows.length) state.textContent = `No one is waiting (${bots.length} bot${bots.length === 1 ? "" : "s"} with DM pairing).`;
  else state.textContent = `${rows.length} sender${rows.length === 1 ? " is" : "s are"} waiting for approval.`;
}

async function load() {
  try {
    render((await api("/api/pairing")).bots);
  } catch (err) {
    state.className = "notice notice-error";
    state.textContent = `Could not read the pairing requests: ${err.message}`;
  }
}

$("#pairing-refresh").addEventListener("click", (event) => whileBusy(event.currentTarget, load, "Refreshing…"));
load();

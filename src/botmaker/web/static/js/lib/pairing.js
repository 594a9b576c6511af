// DM pairing requests: senders waiting for a bot's approval, each with Approve and Deny.
// The inbox page lists every bot's; the bot page its own (PairingList below).

import { runAction, whileBusy } from "./action.js";
import { api } from "./api.js";
import { h } from "./dom.js";
import * as fmt from "./format.js";
import { announce } from "./notify.js";

function decide(bot, req, verdict, button, refresh) {
  const path = `/api/bots/${encodeURIComponent(bot.id)}/pairing/${encodeURIComponent(req.channel)}/${encodeURIComponent(req.code)}/${verdict}`;
  const who = req.name || req.sender;
  return runAction(button, () => api(path, { method: "POST" }), {
    busyText: verdict === "approve" ? "Approving…" : "Denying…",
    subject: bot.name,
    ok: (result) =>
      verdict === "approve"
        ? `${who} may now message the bot${result && result.owner ? ` (and owns its commands: ${result.owner})` : ""}.`
        : `Dismissed the request of ${who}.`,
    done: () => announce(verdict === "approve" ? "Request approved" : "Request dismissed"),
    refresh,
  });
}

/** One request as a table row: [bot,] channel, sender, code, asked, actions. */
export function requestRow(bot, req, { refresh, withBot = false }) {
  const who = req.name || req.sender;
  const approve = h("button", { type: "button", class: "btn btn-small btn-primary", "data-action": "approve", "aria-label": `Approve ${who} on ${bot.name}` }, "Approve");
  const deny = h("button", { type: "button", class: "btn btn-small btn-danger-ghost", "data-action": "deny", "aria-label": `Deny ${who} on ${bot.name}` }, "Deny");
  approve.addEventListener("click", () => decide(bot, req, "approve", approve, refresh));
  deny.addEventListener("click", () => decide(bot, req, "deny", deny, refresh));
  return h(
    "tr",
    { dataset: { bot: bot.id, channel: req.channel, code: req.code } },
    withBot ? h("td", {}, h("a", { href: `/bots/${encodeURIComponent(bot.id)}` }, bot.name)) : null,
    h("td", {}, req.channel, req.account && req.account !== "default" ? h("div", { class: "muted small" }, req.account) : null),
    h("td", {}, req.name || h("span", { class: "muted" }, "unknown"), h("div", { class: "muted small mono" }, req.sender)),
    h("td", { class: "mono" }, req.code),
    h("td", { title: fmt.when(req.created_at) }, `${fmt.since(req.created_at)} ago`, req.expires_at ? h("div", { class: "muted small" }, `expires ${fmt.when(req.expires_at)}`) : null),
    h("td", { class: "row row-wrap" }, approve, deny),
  );
}

/** The pending requests of one bot, in ``table`` (its tbody) with ``empty``/``note`` texts. */
export class PairingList {
  constructor({ body, table, empty, note, botId }) {
    Object.assign(this, { body, table, empty, note, botId });
  }

  async load() {
    let data;
    try {
      data = await api(`/api/bots/${encodeURIComponent(this.botId)}/pairing`);
    } catch (err) {
      this.show([], null, err.message);
      return;
    }
    this.show(data.requests, data, data.error);
  }

  show(requests, bot, error) {
    const refresh = () => this.load();
    this.body.replaceChildren(...requests.map((req) => requestRow(bot, req, { refresh })));
    this.table.hidden = requests.length === 0;
    this.empty.hidden = requests.length > 0 || Boolean(error);
    this.note.hidden = !error;
    this.note.textContent = error || "";
  }
}

/** The bot page's card: shown for a bot with a channel whose DM policy is pairing,
 *  read once on load and again on Refresh (each read runs OpenClaw's CLI in the bot). */
export function mountPairing(card, bot) {
  const channels = ((bot.config && bot.config.channels) || []).filter((c) => c.dm_policy === "pairing");
  if (!card || channels.length === 0) return null;
  card.hidden = false;
  const list = new PairingList({
    body: card.querySelector("#pairing-body"),
    table: card.querySelector("#pairing-table"),
    empty: card.querySelector("#pairing-empty"),
    note: card.querySelector("#pairing-note"),
    botId: bot.id,
  });
  const refresh = card.querySelector("#pairing-refresh");
  refresh.addEventListener("click", () => whileBusy(refresh, () => list.load(), "Refreshing…"));
  list.load();
  return list;
}

// A bot's channel accounts as its gateway last reported them (the view's channel_status):
// one line each, "Telegram: connected" or "Telegram: disconnected — Unauthorized (for 5m)".

import { h } from "./dom.js";
import * as fmt from "./format.js";

const WORDS = {
  connected: "connected",
  connecting: "connecting…",
  disconnected: "disconnected",
  running: "running",
  off: "off (not configured)",
};
const TONES = { connected: "ok", running: "ok", connecting: "warn", disconnected: "bad", off: "idle" };

/** The words for one account: its state, its error and for how long. */
export function describe(account) {
  const name = account.account === "default" ? account.label : `${account.label} (${account.account})`;
  let text = `${name}: ${WORDS[account.state] || account.state}`;
  if (account.error) text += ` — ${account.error}`;
  if (account.state !== "connected" && account.state !== "running") text += ` (for ${fmt.since(account.since)})`;
  return text;
}

/** Fill ``node`` (a list) with the accounts of ``status``; hide it when there is none. */
export function renderChannelHealth(node, status) {
  const accounts = (status && status.accounts) || [];
  const items = accounts.map((account) =>
    h(
      "li",
      {
        class: `channel-health-item tone-${TONES[account.state] || "idle"}`,
        dataset: { channel: account.channel, account: account.account, state: account.state },
        title: account.error || null,
      },
      describe(account),
    ),
  );
  if (status && status.error) {
    items.push(h("li", { class: "channel-health-item tone-warn", dataset: { state: "unknown" } }, `not checked: ${status.error}`));
  }
  node.replaceChildren(...items);
  node.hidden = items.length === 0;
  return node;
}

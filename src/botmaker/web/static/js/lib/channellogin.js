// Linking a channel's account (WhatsApp, Zalo Personal, Signal): the login runs in the
// bot, its QR code is shown here until it is scanned, replaced, cancelled or expires.
// One row per channel of the bot whose plugin logs in through the gateway (web_login)
// or whose account BotMaker links with the channel's own CLI in the bot (cli_login:
// Signal's `signal-cli link`).

import { runAction } from "./action.js";
import { api } from "./api.js";
import { h } from "./dom.js";
import { announce } from "./notify.js";

const ACTIVE = new Set(["starting", "waiting"]);
const POLL_MS = 1500;
const WORDS = {
  idle: "Not linked from here yet.",
  starting: "Asking the bot for a code…",
  waiting: "Scan the code with the app on your phone.",
  linked: "Linked.",
  failed: "The login did not complete.",
  cancelled: "Cancelled.",
  expired: "No scan in time.",
};

class ChannelLogin {
  constructor(bot, channel) {
    this.bot = bot;
    this.channel = channel;
    this.path = `/api/bots/${encodeURIComponent(bot.id)}/channels/${encodeURIComponent(channel.id)}/login`;
    this.timer = null;
    this.state = null;
    // Each request is numbered: an answer older than the latest request is dropped (a
    // first status read can take seconds and must not undo a login started meanwhile).
    this.asked = 0;
    this.status = h("p", { class: "small", role: "status", "aria-live": "polite" });
    this.message = h("p", { class: "muted small" });
    this.image = h("img", { class: "login-qr", alt: `QR code to scan with ${channel.label}`, width: 264, height: 264, hidden: true });
    this.link = h("button", { type: "button", class: "btn btn-small btn-primary" }, "Link account");
    this.relink = h("button", { type: "button", class: "btn btn-small", hidden: true }, "Link again (replace)");
    this.cancel = h("button", { type: "button", class: "btn btn-small btn-danger-ghost", hidden: true }, "Cancel");
    this.link.addEventListener("click", () => this.start(false, this.link));
    this.relink.addEventListener("click", () => this.start(true, this.relink));
    this.cancel.addEventListener("click", () => this.stop());
    this.node = h(
      "div",
      { class: "login-channel stack", dataset: { channel: channel.id } },
      h("h3", { class: "small" }, channel.label),
      this.status,
      this.message,
      this.image,
      h("div", { class: "row row-wrap" }, this.link, this.relink, this.cancel),
    );
  }

  async start(force, button) {
    const asked = ++this.asked;
    const view = await runAction(button, () => api(this.path, { method: "POST", body: { force } }), {
      busyText: "Starting…",
      subject: this.bot.name,
    });
    if (view && asked === this.asked) this.show(view);
  }

  async stop() {
    const asked = ++this.asked;
    const view = await runAction(this.cancel, () => api(this.path, { method: "DELETE" }), {
      busyText: "Cancelling…",
      subject: this.bot.name,
      ok: `${this.channel.label} login cancelled.`,
    });
    if (view && asked === this.asked) this.show(view);
  }

  async load() {
    const asked = ++this.asked;
    try {
      const view = await api(this.path);
      if (asked === this.asked) this.show(view);
    } catch (err) {
      if (asked !== this.asked) return;
      this.status.textContent = `Could not read the login: ${err.message}`;
      this.schedule(false);
    }
  }

  show(view) {
    const was = this.state;
    this.state = view.state;
    const active = ACTIVE.has(view.state);
    let words = WORDS[view.state] || view.state;
    if (!active && view.linked === true) words = view.state === "linked" ? WORDS.linked : `${words} The account is linked.`;
    this.status.textContent = words;
    this.message.textContent = view.message || "";
    this.message.hidden = !view.message;
    if (view.qr && active) {
      if (this.image.getAttribute("src") !== view.qr) this.image.src = view.qr;
      this.image.hidden = false;
    } else {
      this.image.hidden = true;
      this.image.removeAttribute("src");
    }
    this.link.hidden = active || view.linked === true;
    this.relink.hidden = active || !view.linked;
    this.cancel.hidden = !active;
    if (was && was !== view.state) announce(`${this.channel.label}: ${words}`);
    this.schedule(active);
  }

  schedule(active) {
    window.clearTimeout(this.timer);
    if (active) this.timer = window.setTimeout(() => this.load(), POLL_MS);
  }
}

/** Fill ``card`` (hidden unless the bot has such a channel) with one login per channel. */
export function mountChannelLogins(card, bot, channels) {
  if (!card) return;
  const wanted = (bot.channels || [])
    .map((id) => channels.find((ch) => ch.id === id))
    .filter((ch) => ch && (ch.web_login || ch.cli_login));
  if (!wanted.length) return;
  const logins = wanted.map((ch) => new ChannelLogin(bot, ch));
  card.querySelector("[data-logins]").replaceChildren(...logins.map((login) => login.node));
  card.hidden = false;
  logins.forEach((login) => login.load());
}

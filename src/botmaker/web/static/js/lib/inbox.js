// The notification centre: the bell in the header and its panel. It lists the alerts of
// the bots the user may see (GET /api/events: deaths, OOM kills, health, channels,
// egress refusals, upgrades) and the results of what the user did in this tab (every
// "ok" and "error" toast, which vanish after a few seconds, stays here).
//
// Kept in the browser: when the user last read the centre (localStorage: a timestamp,
// per user) and this tab's operation results (sessionStorage, cleared at log out;
// messages as the API wrote them, which never hold a secret).

import { api } from "./api.js";
import { $, h, replaceChildren } from "./dom.js";

/** The event kinds the centre lists, with how they read and how bad they are. */
export const KINDS = {
  died: ["died", "bad"],
  oom: ["killed: out of memory", "bad"],
  unhealthy: ["unhealthy", "bad"],
  crash_loop: ["crash loop", "bad"],
  channel_down: ["channel down", "bad"],
  channel_up: ["channel back up", "ok"],
  budget_exceeded: ["budget exceeded", "warn"],
  egress_denied: ["connection refused by its network policy", "warn"],
  upgraded: ["upgraded", "ok"],
  upgrade_failed: ["upgrade failed", "bad"],
  upgrade_rolled_back: ["upgrade rolled back", "warn"],
  upgrade_refused: ["upgrade refused", "warn"],
};
const MAX_RESULTS = 100;
const POLL_MS = 30_000;

const user = document.body.dataset.user || "";
const SEEN_KEY = `botmaker-inbox-seen:${user}`;
const RESULTS_KEY = `botmaker-inbox-results:${user}`;

function load(storage, key, fallback) {
  try {
    const value = JSON.parse(storage.getItem(key));
    return value === null ? fallback : value;
  } catch {
    return fallback;
  }
}

function save(storage, key, value) {
  try {
    storage.setItem(key, JSON.stringify(value));
  } catch {
    /* storage full or off: the centre still works for this page */
  }
}

function clock(ms) {
  const date = new Date(ms);
  const today = new Date().toDateString() === date.toDateString();
  return today ? date.toLocaleTimeString() : date.toLocaleString();
}

class Inbox {
  constructor(root) {
    this.button = $("#inbox-button", root);
    this.count = $("#inbox-count", root);
    this.label = $("#inbox-label", root);
    this.panel = $("#inbox-panel", root);
    this.list = $("#inbox-list", root);
    this.empty = $("#inbox-empty", root);
    this.error = $("#inbox-error", root);
    this.events = []; // from the server, newest first
    this.results = load(window.sessionStorage, RESULTS_KEY, []);
    this.seen = Number(load(window.localStorage, SEEN_KEY, 0)) || 0;
    this.shownSeen = this.seen; // while open: what was unread when it opened
    this.button.addEventListener("click", () => (this.panel.hidden ? this.open() : this.close()));
    $("#inbox-read", root).addEventListener("click", () => this.markRead());
    root.addEventListener("keydown", (event) => {
      if (event.key === "Escape" && !this.panel.hidden) {
        this.close();
        this.button.focus();
      }
    });
    document.addEventListener("click", (event) => {
      if (!this.panel.hidden && !root.contains(event.target)) this.close();
    });
    document.addEventListener("botmaker:toast", (event) => this.result(event.detail));
    const logout = document.querySelector(".logout-form");
    if (logout) logout.addEventListener("submit", () => window.sessionStorage.removeItem(RESULTS_KEY));
    window.addEventListener("storage", (event) => {
      if (event.key === SEEN_KEY) {
        this.seen = Number(load(window.localStorage, SEEN_KEY, 0)) || 0;
        this.render();
      }
    });
    this.render();
    this.poll();
  }

  items() {
    const events = this.events.map((e) => {
      const [text, tone] = KINDS[e.kind] || [e.kind.replaceAll("_", " "), "warn"];
      return {
        key: `event-${e.id}`,
        at: e.at * 1000,
        tone,
        title: `${e.bot_name}: ${text}${e.exit_code !== null && e.exit_code !== undefined ? ` (exit code ${e.exit_code})` : ""}`,
        detail: e.detail,
        href: `/bots/${encodeURIComponent(e.bot_id)}`,
        source: "alert",
      };
    });
    const results = this.results.map((r) => ({
      key: `result-${r.at}`,
      at: r.at,
      tone: r.kind === "error" ? "bad" : "ok",
      title: r.message,
      detail: "",
      href: null,
      source: "result",
    }));
    return [...events, ...results].sort((a, b) => b.at - a.at);
  }

  unread() {
    return this.items().filter((item) => item.at > this.seen).length;
  }

  render() {
    const unread = this.unread();
    this.count.textContent = unread > 99 ? "99+" : String(unread);
    this.count.hidden = unread === 0;
    this.label.textContent = unread ? `Notifications, ${unread} unread` : "Notifications";
    this.button.dataset.unread = String(unread);
    if (this.panel.hidden) return;
    const items = this.items();
    this.empty.hidden = items.length > 0;
    replaceChildren(
      this.list,
      items.map((item) => {
        const fresh = item.at > this.shownSeen;
        const title = item.href ? h("a", { href: item.href }, item.title) : item.title;
        return h(
          "li",
          { class: `inbox-item inbox-${item.tone}${fresh ? " inbox-unread" : ""}`, "data-source": item.source },
          h("p", { class: "inbox-title" }, fresh ? h("span", { class: "visually-hidden" }, "New: ") : null, title),
          item.detail ? h("p", { class: "inbox-detail muted small" }, item.detail) : null,
          h(
            "p",
            { class: "muted small" },
            h("time", { datetime: new Date(item.at).toISOString() }, clock(item.at)),
            item.source === "result" ? " · your action" : "",
          ),
        );
      }),
    );
  }

  async refresh() {
    const query = new URLSearchParams({ limit: "50" });
    for (const kind of Object.keys(KINDS)) query.append("kind", kind);
    try {
      const data = await api(`/api/events?${query}`);
      this.events = data.events;
      this.error.hidden = true;
    } catch (err) {
      this.error.textContent = `Could not load the alerts: ${err.message}`;
      this.error.hidden = false;
    }
    this.render();
  }

  async poll() {
    if (document.visibilityState !== "hidden" || !this.panel.hidden) await this.refresh();
    window.setTimeout(() => this.poll(), POLL_MS);
  }

  result({ message, kind }) {
    if (kind !== "ok" && kind !== "error") return; // alerts come from the server
    let at = Date.now();
    if (this.results.length && this.results[this.results.length - 1].at >= at) {
      at = this.results[this.results.length - 1].at + 1; // keys stay unique
    }
    this.results.push({ at, kind, message: String(message) });
    this.results = this.results.slice(-MAX_RESULTS);
    save(window.sessionStorage, RESULTS_KEY, this.results);
    this.render();
  }

  open() {
    this.shownSeen = this.seen;
    this.panel.hidden = false;
    this.button.setAttribute("aria-expanded", "true");
    this.render();
    this.refresh().then(() => this.markRead(false));
    this.panel.focus();
  }

  close() {
    this.panel.hidden = true;
    this.button.setAttribute("aria-expanded", "false");
    this.render();
  }

  markRead(redraw = true) {
    const latest = Math.max(Date.now(), ...this.items().map((item) => item.at));
    this.seen = latest;
    save(window.localStorage, SEEN_KEY, latest);
    if (redraw) this.shownSeen = latest;
    this.render();
  }
}

const root = document.getElementById("inbox");
export const inbox = root ? new Inbox(root) : null;

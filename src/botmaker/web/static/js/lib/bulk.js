// Bulk actions on the bot list: a checkbox per card, "select all shown", a count, and
// start / stop / restart / upgrade / delete of the selected bots through the same API
// routes as one bot's buttons (each bot's answer is its own: the policy decides per
// bot), with each bot's result listed: which succeeded, which failed and why. An
// upgrade by an admin is one fleet rollout (POST /api/image/upgrade) whose progress is
// read while it runs (GET /api/image/rollout, lib/rollout.js).

import { api, ApiError } from "./api.js";
import { failure } from "./action.js";
import { confirmDialog } from "./dialog.js";
import { $, $$, h, replaceChildren } from "./dom.js";
import { announce, toast } from "./notify.js";
import { Rollout } from "./rollout.js";

const AT_ONCE = 4; // requests in flight at a time
const VERBS = {
  start: ["Start", "started", "Starting"],
  stop: ["Stop", "stopped", "Stopping"],
  restart: ["Restart", "restarted", "Restarting"],
  delete: ["Delete", "deleted", "Deleting"],
  upgrade: ["Upgrade", "upgraded", "Upgrading"],
};

/** Run ``task(item)`` for every item, ``limit`` at a time; resolves when all settled. */
async function pool(items, limit, task) {
  const queue = [...items];
  const workers = Array.from({ length: Math.min(limit, queue.length) }, async () => {
    while (queue.length) await task(queue.shift());
  });
  await Promise.all(workers);
}

const plural = (n, one, many = `${one}s`) => `${n} ${n === 1 ? one : many}`;

export class Bulk {
  /**
   * ``bots``: the page's Map id -> bot; ``list``: the card list; ``updated(bot)``: a bot's
   * new state from an action's answer; ``deleted(id)``: a bot is gone; ``refresh()``.
   */
  constructor({ bots, list, updated, deleted, refresh }) {
    this.bar = $("#bulk-bar");
    this.bots = bots;
    this.list = list;
    this.updated = updated;
    this.deleted = deleted;
    this.refresh = refresh;
    this.selected = new Set();
    this.busy = false;
    if (!this.bar) return; // a viewer: nothing to act with
    this.all = $("#bulk-all");
    this.count = $("#bulk-count");
    this.buttons = $$("button[data-bulk]", this.bar);
    this.results = $("#bulk-results");
    this.resultList = $("#bulk-result-list");
    this.summary = $("#bulk-summary");
    this.title = $("#bulk-results-title");
    this.rollout = new Rollout({ show: (title) => this.open(title), rows: (rows) => this.rows(rows), summary: (text) => this.say(text) });
    this.all.addEventListener("change", () => this.selectShown(this.all.checked));
    for (const button of this.buttons) {
      button.addEventListener("click", () => this.run(button.dataset.bulk));
    }
    $("#bulk-results-close").addEventListener("click", () => {
      this.results.hidden = true;
    });
    list.addEventListener("change", (event) => {
      const box = event.target.closest("input.bulk-check");
      if (!box) return;
      if (box.checked) this.selected.add(box.dataset.botId);
      else this.selected.delete(box.dataset.botId);
      this.sync();
    });
    this.rollout.resume(); // a rollout already running (another tab): its progress
  }

  /** Put a checkbox in a new card. */
  decorate(card, bot) {
    if (!this.bar) return;
    const box = h("input", {
      type: "checkbox",
      class: "bulk-check",
      "data-bot-id": bot.id,
      "aria-label": `Select ${bot.name}`,
    });
    const head = card.querySelector(".bot-card-head");
    (head || card).prepend(box);
  }

  shownIds() {
    return $$("li.bot-card", this.list)
      .filter((card) => !card.hidden)
      .map((card) => card.dataset.botId);
  }

  selectShown(on) {
    for (const id of this.shownIds()) {
      if (on) this.selected.add(id);
      else this.selected.delete(id);
    }
    this.sync();
  }

  /** After every render: forget deleted bots, tick the boxes, count, enable buttons. */
  sync() {
    if (!this.bar) return;
    for (const id of [...this.selected]) if (!this.bots.has(id)) this.selected.delete(id);
    for (const box of $$("input.bulk-check", this.list)) box.checked = this.selected.has(box.dataset.botId);
    const shown = this.shownIds();
    const picked = shown.filter((id) => this.selected.has(id)).length;
    this.all.checked = shown.length > 0 && picked === shown.length;
    this.all.indeterminate = picked > 0 && picked < shown.length;
    this.all.disabled = shown.length === 0;
    const hiddenPicked = this.selected.size - picked;
    this.count.textContent = this.selected.size
      ? `${this.selected.size} selected${hiddenPicked ? ` (${hiddenPicked} not shown)` : ""}`
      : "None selected";
    for (const button of this.buttons) button.disabled = this.busy || this.selected.size === 0;
    this.bar.dataset.selected = String(this.selected.size);
  }

  chosen() {
    return [...this.selected]
      .map((id) => this.bots.get(id))
      .filter(Boolean)
      .sort((a, b) => a.name.localeCompare(b.name));
  }

  // -- the results panel --------------------------------------------------------------

  open(title) {
    this.title.textContent = title;
    this.summary.textContent = "";
    replaceChildren(this.resultList);
    this.results.hidden = false;
  }

  say(text) {
    this.summary.textContent = text;
  }

  /** rows: [{id, name, state, tone ("ok"|"bad"|"busy"|"idle"), detail}] */
  rows(rows) {
    replaceChildren(
      this.resultList,
      rows.map((row) =>
        h(
          "li",
          { class: `bulk-row bulk-${row.tone}`, "data-bot-id": row.id, "data-state": row.state },
          h("span", { class: "mono bulk-name" }, row.name),
          h("span", { class: "bulk-state" }, row.state),
          row.detail ? h("span", { class: "bulk-detail muted small" }, row.detail) : null,
        ),
      ),
    );
  }

  // -- actions --------------------------------------------------------------------------

  async run(action) {
    const bots = this.chosen();
    if (!bots.length || this.busy) return;
    if (action === "delete" && !(await this.confirmDelete(bots))) return;
    let image = null;
    if (action === "upgrade") {
      image = await this.askImage(bots);
      if (!image) return;
    }
    this.busy = true;
    this.sync();
    try {
      if (action === "upgrade" && this.rollout.allowed) await this.rollout.run(image, bots);
      else await this.each(action, bots, image);
    } finally {
      this.busy = false;
      this.sync();
      this.refresh();
    }
  }

  async each(action, bots, image) {
    const [verb, done, doing] = VERBS[action];
    const state = new Map(bots.map((b) => [b.id, { id: b.id, name: b.name, state: "waiting", tone: "idle", detail: "" }]));
    const draw = () => this.rows([...state.values()]);
    this.open(`${verb}: ${plural(bots.length, "bot")}`);
    draw();
    let ok = 0;
    const failed = [];
    await pool(bots, action === "upgrade" ? 2 : AT_ONCE, async (bot) => {
      Object.assign(state.get(bot.id), { state: `${doing.toLowerCase()}…`, tone: "busy" });
      draw();
      const path = `/api/bots/${encodeURIComponent(bot.id)}`;
      try {
        if (action === "delete") {
          await api(path, { method: "DELETE" });
          this.deleted(bot.id);
        } else if (action === "upgrade") {
          const result = await api(`${path}/image`, { method: "POST", body: { image } });
          if (result.status !== "upgraded") throw new Error(`${result.status.replace("_", " ")}: ${result.detail}`);
        } else {
          this.updated(await api(`${path}/${action}`, { method: "POST" }));
        }
        ok += 1;
        Object.assign(state.get(bot.id), { state: done, tone: "ok" });
      } catch (err) {
        const why = err instanceof ApiError || !(err instanceof TypeError) ? err.message : failure(err);
        failed.push(`${bot.name} (${why})`);
        Object.assign(state.get(bot.id), { state: "failed", tone: "bad", detail: why });
      }
      draw();
    });
    const text = failed.length
      ? `${verb}: ${ok} of ${bots.length} ${done}; failed: ${failed.join("; ")}`
      : `${verb}: ${plural(ok, "bot")} ${done} (${bots.map((b) => b.name).join(", ")})`;
    this.say(failed.length ? `${ok} ${done}, ${failed.length} failed.` : `All ${plural(ok, "bot")} ${done}.`);
    toast(text, failed.length ? "error" : "ok");
    announce(text);
  }

  confirmDelete(bots) {
    const dialog = $("#bulk-delete-dialog");
    const label = plural(bots.length, "bot");
    $("#bulk-delete-title").textContent = `Delete ${label}?`;
    replaceChildren($("#bulk-delete-names"), bots.map((b) => h("li", { class: "mono" }, b.name)));
    const submit = $("#bulk-delete-submit");
    submit.textContent = `Delete ${label}`;
    return confirmDialog(dialog, {
      submit,
      cancel: $("#bulk-delete-cancel"),
      action: async () => true,
    }).then((yes) => yes === true);
  }

  async askImage(bots) {
    const input = $("#bulk-image");
    const error = $("#bulk-upgrade-error");
    $("#bulk-upgrade-title").textContent = `Upgrade ${plural(bots.length, "bot")}`;
    replaceChildren($("#bulk-upgrade-names"), bots.map((b) => h("li", { class: "mono" }, b.name)));
    if (!input.value) {
      try {
        input.value = (await api("/api/image")).image;
      } catch {
        /* typed by hand then */
      }
    }
    const chosen = await confirmDialog($("#bulk-upgrade-dialog"), {
      submit: $("#bulk-upgrade-submit"),
      cancel: $("#bulk-upgrade-cancel"),
      error,
      focus: input,
      action: async () => {
        const value = input.value.trim();
        if (!value) throw new Error("Name the image to upgrade to.");
        return value;
      },
    });
    return chosen || null;
  }
}

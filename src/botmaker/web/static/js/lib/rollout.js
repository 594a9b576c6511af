// A fleet rollout and its progress, for admins (fleet.upgrade): POST /api/image/upgrade
// runs the whole rollout in one request; meanwhile GET /api/image/rollout says how many
// bots are done, failed, upgrading and waiting, and each bot's state. A rollout started
// elsewhere (another tab) is picked up when the page opens.

import { api } from "./api.js";
import { announce, toast } from "./notify.js";

const TONES = {
  waiting: "idle",
  pending: "idle",
  upgrading: "busy",
  upgraded: "ok",
  current: "ok",
  failed: "bad",
  rolled_back: "bad",
  refused: "bad",
};
const WORDS = {
  upgrading: "upgrading…",
  current: "already on it",
  rolled_back: "rolled back",
  pending: "not reached (paused)",
};

export class Rollout {
  /** ``show(title)`` opens the results panel, ``rows(rows)`` lists the bots, ``summary(text)``. */
  constructor({ show, rows, summary }) {
    this.show = show;
    this.rows = rows;
    this.summary = summary;
    this.allowed = (document.body.dataset.can || "").split(" ").includes("fleet.upgrade");
    this.timer = 0;
  }

  draw(progress) {
    const { counts } = progress;
    this.rows(
      progress.bots.map((bot) => ({
        id: bot.id,
        name: bot.name,
        state: WORDS[bot.state] || bot.state.replaceAll("_", " "),
        tone: TONES[bot.state] || "idle",
        detail: bot.state === "upgrading" || bot.state === "waiting" ? "" : bot.detail,
      })),
    );
    const parts = [`${counts.done} of ${counts.total} done`, `${counts.failed} failed`];
    if (counts.upgrading) parts.push(`${counts.upgrading} upgrading`);
    if (counts.waiting) parts.push(`${counts.waiting} waiting`);
    if (counts.pending) parts.push(`${counts.pending} not reached`);
    let text = `${progress.image}: ${parts.join(", ")}.`;
    if (!progress.running) {
      if (progress.error) text += ` Stopped: ${progress.error}`;
      else if (progress.paused_reason) text += ` Paused: ${progress.paused_reason}`;
      else text += " Finished.";
    }
    this.summary(text);
    return text;
  }

  async read() {
    const data = await api("/api/image/rollout");
    return data.rollout;
  }

  watch() {
    window.clearTimeout(this.timer);
    const tick = async () => {
      try {
        const progress = await this.read();
        if (progress) this.draw(progress);
        if (!progress || !progress.running) return;
      } catch {
        /* the next tick tries again */
      }
      this.timer = window.setTimeout(tick, 1000);
    };
    this.timer = window.setTimeout(tick, 300);
  }

  /** A rollout already running when the page opened: follow it. */
  async resume() {
    if (!this.allowed) return;
    try {
      const progress = await this.read();
      if (progress && progress.running) {
        this.show(`Fleet upgrade to ${progress.image}`);
        this.draw(progress);
        this.watch();
      }
    } catch {
      /* not shown: nothing to follow */
    }
  }

  async run(image, bots) {
    this.show(`Fleet upgrade to ${image}: ${bots.length} bot${bots.length === 1 ? "" : "s"}`);
    this.rows(bots.map((b) => ({ id: b.id, name: b.name, state: "waiting", tone: "idle", detail: "" })));
    this.summary("Pulling the image and starting the rollout…");
    this.watch();
    try {
      await api("/api/image/upgrade", { method: "POST", body: { image, bots: bots.map((b) => b.id) } });
    } catch (err) {
      window.clearTimeout(this.timer);
      this.summary(`The rollout did not run: ${err.message}`);
      toast(`Upgrade to ${image}: ${err.message}`, "error");
      return;
    }
    window.clearTimeout(this.timer);
    const progress = await this.read();
    const text = progress ? this.draw(progress) : `Upgrade to ${image} finished.`;
    const bad = progress && (progress.counts.failed || progress.paused_reason);
    toast(`Upgrade: ${text}`, bad ? "error" : "ok");
    announce(text);
  }
}

// A live log pane: follows a Server-Sent Events log stream (events stdout, stderr, end).
//
// Built for bots that print thousands of lines a second: events only queue lines; the
// DOM is updated once per animation frame; at most ``maxLines`` lines are kept (older
// ones are dropped from the buffer and the page). Auto-scroll pauses when the reader
// scrolls up and resumes when they scroll back to the bottom.

import { h } from "./dom.js";
import * as ansi from "./ansi.js";

const BOTTOM_SLACK = 8; // px from the bottom that still counts as "at the bottom"

export class LogViewer {
  constructor(container, { name = "bot", maxLines = 5000, label = "Logs" } = {}) {
    this.name = name;
    this.max = maxLines;
    this.lines = [];
    this.pending = [];
    this.states = { stdout: ansi.newState(), stderr: ansi.newState() };
    this.following = true;
    this.unseen = 0;
    this.filter = "";
    this.frame = 0;
    this.source = null;
    this.ended = true;
    this.onEnd = null;

    this.filterInput = h("input", {
      type: "search",
      placeholder: "Filter lines…",
      "aria-label": "Filter log lines",
      autocomplete: "off",
      spellcheck: "false",
    });
    this.stateLabel = h("span", { class: "badge badge-idle", "data-log-state": "idle" }, "idle");
    this.count = h("span", { class: "log-count", "aria-live": "off" }, "0 lines");
    this.downloadButton = h("button", { type: "button", class: "btn btn-small" }, "Download");
    this.clearButton = h("button", { type: "button", class: "btn btn-small" }, "Clear");
    this.view = h("div", {
      class: "log-view",
      role: "log",
      "aria-live": "off",
      "aria-label": label,
      tabindex: "0",
    });
    this.resumeButton = h(
      "button",
      { type: "button", class: "btn btn-small btn-primary log-resume", hidden: true },
      "↓ Follow",
    );
    this.root = h(
      "div",
      { class: "logviewer" },
      h("div", { class: "log-toolbar" }, this.stateLabel, this.filterInput, this.downloadButton, this.clearButton, this.count),
      h("div", { class: "log-frame" }, this.view, this.resumeButton),
      h("p", { class: "log-legend" }, h("span", { class: "stderr-mark", "aria-hidden": "true" }), "stderr lines are marked red; stdout plain."),
    );
    container.replaceChildren(this.root);

    this.view.addEventListener("scroll", () => this.onScroll(), { passive: true });
    this.resumeButton.addEventListener("click", () => this.follow());
    this.downloadButton.addEventListener("click", () => this.download());
    this.clearButton.addEventListener("click", () => this.clear());
    let timer = 0;
    this.filterInput.addEventListener("input", () => {
      window.clearTimeout(timer);
      timer = window.setTimeout(() => this.setFilter(this.filterInput.value), 120);
    });
  }

  // -- the stream ----------------------------------------------------------------------

  connect(url) {
    this.disconnect();
    this.ended = false;
    this.setState("connecting", "warn");
    const source = new EventSource(url);
    this.source = source;
    source.addEventListener("open", () => this.setState("live", "ok"));
    source.addEventListener("stdout", (event) => this.push("stdout", event.data));
    source.addEventListener("stderr", (event) => this.push("stderr", event.data));
    source.addEventListener("end", () => this.finish("the log stream ended (the container stopped)", "end"));
    source.addEventListener("error", () => {
      // Never let EventSource reconnect by itself: it would replay the history lines.
      if (this.source === source) this.finish("disconnected from the log stream", "error");
    });
  }

  finish(message, reason) {
    this.disconnect();
    this.meta(`— ${message} —`);
    this.ended = true;
    this.setState(reason === "error" ? "disconnected" : "ended", reason === "error" ? "bad" : "idle");
    if (this.onEnd) this.onEnd(reason);
  }

  disconnect() {
    if (this.source) {
      this.source.close();
      this.source = null;
    }
  }

  setState(text, tone) {
    this.stateLabel.className = `badge badge-${tone}`;
    this.stateLabel.textContent = text;
    this.stateLabel.dataset.logState = text;
  }

  // -- lines ---------------------------------------------------------------------------

  push(stream, text) {
    this.pending.push({ stream, text, plain: "", segments: null, node: null });
    if (this.pending.length > this.max * 2) this.pending.splice(0, this.pending.length - this.max);
    if (!this.frame) this.frame = window.requestAnimationFrame(() => this.flush());
  }

  meta(text) {
    this.push("meta", text);
  }

  flush() {
    this.frame = 0;
    let batch = this.pending;
    this.pending = [];
    if (batch.length > this.max) batch = batch.slice(batch.length - this.max);
    if (!batch.length) return;
    const needle = this.filter.toLowerCase();
    const fragment = document.createDocumentFragment();
    for (const item of batch) {
      const state = this.states[item.stream];
      item.segments = state ? ansi.parse(item.text, state) : [{ text: ansi.strip(item.text), style: ansi.newState() }];
      item.plain = item.segments.map((s) => s.text).join("");
      if (!needle || item.plain.toLowerCase().includes(needle)) {
        item.node = this.lineNode(item);
        fragment.append(item.node);
      }
      this.lines.push(item);
    }
    const overflow = this.lines.length - this.max;
    if (overflow > 0) {
      const dropped = this.lines.splice(0, overflow);
      if (dropped.length >= this.view.childElementCount) this.view.replaceChildren();
      else for (const line of dropped) if (line.node) line.node.remove();
      for (const line of dropped) line.node = null;
    }
    this.view.append(fragment);
    if (this.following) this.scrollToBottom();
    else {
      this.unseen += batch.length;
      this.resumeButton.textContent = `↓ Follow (${this.unseen > 9999 ? "9999+" : this.unseen} new)`;
      this.resumeButton.hidden = false;
    }
    this.updateCount();
  }

  lineNode(item) {
    const node = document.createElement("div");
    node.className = `log-line ${item.stream}`;
    ansi.render(item.segments, node);
    return node;
  }

  updateCount() {
    const shown = this.filter ? this.view.childElementCount : this.lines.length;
    const total = `${this.lines.length.toLocaleString("en")} line${this.lines.length === 1 ? "" : "s"}`;
    this.count.textContent = this.filter ? `${shown.toLocaleString("en")} of ${total}` : total;
  }

  setFilter(text) {
    this.filter = text.trim();
    const needle = this.filter.toLowerCase();
    const fragment = document.createDocumentFragment();
    for (const line of this.lines) {
      if (!needle || line.plain.toLowerCase().includes(needle)) {
        line.node = line.node || this.lineNode(line);
        fragment.append(line.node);
      } else line.node = null;
    }
    this.view.replaceChildren(fragment);
    if (this.following) this.scrollToBottom();
    this.updateCount();
  }

  clear() {
    this.lines = [];
    this.pending = [];
    this.view.replaceChildren();
    this.unseen = 0;
    this.resumeButton.hidden = true;
    this.following = true;
    this.updateCount();
  }

  text() {
    return this.lines
      .map((line) => (line.stream === "stderr" ? `[stderr] ${line.plain}` : line.plain))
      .join("\n");
  }

  download() {
    const blob = new Blob([`${this.text()}\n`], { type: "text/plain;charset=utf-8" });
    const url = URL.createObjectURL(blob);
    const stamp = new Date().toISOString().replace(/[:.]/g, "-");
    const link = h("a", { href: url, download: `${this.name}-${stamp}.log` });
    document.body.append(link);
    link.click();
    link.remove();
    window.setTimeout(() => URL.revokeObjectURL(url), 10_000);
  }

  // -- scrolling -----------------------------------------------------------------------

  atBottom() {
    const view = this.view;
    return view.scrollHeight - view.scrollTop - view.clientHeight <= BOTTOM_SLACK;
  }

  onScroll() {
    const bottom = this.atBottom();
    if (bottom && !this.following) this.follow();
    else if (!bottom && this.following) {
      this.following = false;
      this.unseen = 0;
      this.resumeButton.textContent = "↓ Follow";
      this.resumeButton.hidden = false;
    }
  }

  follow() {
    this.following = true;
    this.unseen = 0;
    this.resumeButton.hidden = true;
    this.scrollToBottom();
  }

  scrollToBottom() {
    this.view.scrollTop = this.view.scrollHeight;
  }
}

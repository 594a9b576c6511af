// A live log pane: follows a Server-Sent Events log stream (events stdout, stderr, end).
//
// Built for bots that print thousands of lines a second: events only queue lines; the
// DOM is updated once per animation frame; at most ``maxLines`` lines are kept (older
// ones are dropped from the buffer and the page). Auto-scroll pauses when the reader
// scrolls up and resumes when they scroll back to the bottom.
//
// With ``search: true`` (the bot page) it also searches: plain text or a regular
// expression with the matches marked, a time range (since/until, read again from the
// engine), the engine's timestamps shown or hidden, long lines wrapped or not.

import { h } from "./dom.js";
import * as ansi from "./ansi.js";
import { compileNeedle, isoOfLocal, renderMarked, splitTimestamp, stampText } from "./logsearch.js";

const BOTTOM_SLACK = 8; // px from the bottom that still counts as "at the bottom"

export class LogViewer {
  constructor(container, { name = "bot", maxLines = 5000, label = "Logs", search = false } = {}) {
    this.name = name;
    this.search = search;
    this.needle = null; // compileNeedle()'s result for the search box
    this.regex = false;
    this.window = null; // {since, until} ISO times while a time range is shown
    this.liveUrl = null;
    this.stamped = false; // the stream was asked for the engine's timestamps
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
      placeholder: search ? "Search lines (text or regex)…" : "Filter lines…",
      "aria-label": search ? "Search log lines" : "Filter log lines",
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
    this.searchBar = search ? this.buildSearchBar() : null;
    this.root = h(
      "div",
      { class: "logviewer" },
      h("div", { class: "log-toolbar" }, this.stateLabel, this.filterInput, this.downloadButton, this.clearButton, this.count),
      this.searchBar,
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

  /** The search row: regex, time range, timestamps and wrap toggles, and the message
   *  for a search that cannot run. */
  buildSearchBar() {
    const uid = Math.random().toString(36).slice(2, 8);
    const check = (label, onChange, checked = false) => {
      const input = h("input", { type: "checkbox" });
      input.checked = checked;
      input.addEventListener("change", () => onChange(input.checked));
      return [input, h("label", { class: "log-toggle" }, input, ` ${label}`)];
    };
    const [regex, regexLabel] = check("Regex", (on) => {
      this.regex = on;
      this.setFilter(this.filterInput.value);
    });
    const [stamps, stampsLabel] = check("Timestamps", (on) => this.view.classList.toggle("show-ts", on));
    const [wrap, wrapLabel] = check("Wrap", (on) => this.view.classList.toggle("nowrap", !on), true);
    this.toggles = { regex, stamps, wrap };
    this.sinceInput = h("input", { type: "datetime-local", step: "1", id: `log-since-${uid}` });
    this.untilInput = h("input", { type: "datetime-local", step: "1", id: `log-until-${uid}` });
    this.rangeButton = h("button", { type: "button", class: "btn btn-small" }, "Show range");
    this.liveButton = h("button", { type: "button", class: "btn btn-small", hidden: true }, "Back to live");
    this.searchError = h("p", { class: "log-search-error", id: `log-search-error-${uid}`, "aria-live": "polite", hidden: true });
    this.filterInput.setAttribute("aria-describedby", this.searchError.id);
    this.rangeButton.addEventListener("click", () => this.showRange());
    this.liveButton.addEventListener("click", () => this.backToLive());
    return h(
      "div",
      { class: "log-search" },
      h("div", { class: "log-toggles" }, regexLabel, stampsLabel, wrapLabel),
      h(
        "div",
        { class: "log-range", role: "group", "aria-label": "Time range" },
        h("label", { for: this.sinceInput.id }, "Since"),
        this.sinceInput,
        h("label", { for: this.untilInput.id }, "Until"),
        this.untilInput,
        this.rangeButton,
        this.liveButton,
      ),
      this.searchError,
    );
  }

  searchMessage(text) {
    if (!this.searchError) return;
    this.searchError.textContent = text || "";
    this.searchError.hidden = !text;
  }

  /** Read the lines of the chosen time range again from the engine (until: the stream
   *  ends there; since only: it follows on from then). */
  showRange() {
    const since = isoOfLocal(this.sinceInput.value);
    const until = isoOfLocal(this.untilInput.value);
    if (!since && !until) {
      this.searchMessage("Choose a time to start from (Since), to end at (Until), or both.");
      return;
    }
    if (since && until && until <= since) {
      this.searchMessage("Until must be later than Since.");
      this.untilInput.setAttribute("aria-invalid", "true");
      return;
    }
    this.untilInput.removeAttribute("aria-invalid");
    this.searchMessage("");
    this.window = { since, until };
    this.liveButton.hidden = false;
    this.clear();
    this.connect(this.liveUrl);
  }

  backToLive() {
    this.window = null;
    this.liveButton.hidden = true;
    this.sinceInput.value = "";
    this.untilInput.value = "";
    this.searchMessage("");
    this.clear();
    this.connect(this.liveUrl, { tail: 200 });
  }

  /** The stream's URL: the live one, or the time range's (every line in it, up to the
   *  pane's limit), with the engine's timestamps when searching. */
  streamUrl(url, tail) {
    if (!this.search) return url;
    const full = new URL(url, window.location.origin);
    full.searchParams.set("timestamps", "true");
    if (tail !== undefined) full.searchParams.set("tail", String(tail));
    if (this.window) {
      full.searchParams.set("tail", String(this.max));
      if (this.window.since) full.searchParams.set("since", this.window.since);
      if (this.window.until) {
        full.searchParams.set("until", this.window.until);
        full.searchParams.set("follow", "false");
      }
    }
    return `${full.pathname}${full.search}`;
  }

  /** True while a time range (not the live tail) is shown. */
  get searching() {
    return this.window !== null;
  }

  // -- the stream ----------------------------------------------------------------------

  connect(url, { tail } = {}) {
    this.disconnect();
    this.ended = false;
    if (!this.window) this.liveUrl = url;
    this.stamped = this.search;
    this.setState("connecting", "warn");
    const source = new EventSource(this.streamUrl(url, tail));
    this.source = source;
    source.addEventListener("open", () => this.setState(this.window ? "range" : "live", "ok"));
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
    const ranged = this.window !== null && reason === "end";
    this.meta(ranged ? "— end of the time range —" : `— ${message} —`);
    this.ended = true;
    this.setState(reason === "error" ? "disconnected" : "ended", reason === "error" ? "bad" : "idle");
    if (this.onEnd && !this.window) this.onEnd(reason);
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
    this.pending.push({ stream, text, plain: "", segments: null, node: null, at: null, marked: false });
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
    const needle = this.needle && !this.needle.error ? this.needle : null;
    const fragment = document.createDocumentFragment();
    for (const item of batch) {
      const state = this.states[item.stream];
      if (state && this.stamped) [item.at, item.text] = splitTimestamp(item.text);
      item.segments = state ? ansi.parse(item.text, state) : [{ text: ansi.strip(item.text), style: ansi.newState() }];
      item.plain = item.segments.map((s) => s.text).join("");
      if (!needle || needle.test(item.plain)) {
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
    if (item.at) {
      const stamp = document.createElement("span");
      stamp.className = "log-ts";
      stamp.textContent = `${stampText(item.at)} `;
      node.append(stamp);
    }
    const needle = this.needle && !this.needle.error ? this.needle : null;
    const ranges = needle ? needle.ranges(item.plain) : [];
    item.marked = ranges.length > 0;
    if (ranges.length) renderMarked(item.segments, ranges, node);
    else ansi.render(item.segments, node);
    return node;
  }

  updateCount() {
    const filtering = this.needle && !this.needle.error;
    const shown = filtering ? this.view.childElementCount : this.lines.length;
    const total = `${this.lines.length.toLocaleString("en")} line${this.lines.length === 1 ? "" : "s"}`;
    this.count.textContent = filtering ? `${shown.toLocaleString("en")} of ${total}` : total;
  }

  setFilter(text) {
    this.filter = text.trim();
    this.needle = compileNeedle(this.filter, this.regex);
    const bad = Boolean(this.needle && this.needle.error);
    if (bad) this.filterInput.setAttribute("aria-invalid", "true");
    else this.filterInput.removeAttribute("aria-invalid");
    this.searchMessage(bad ? this.needle.error : "");
    // A search that cannot run filters nothing (the message says why).
    const needle = bad ? null : this.needle;
    const fragment = document.createDocumentFragment();
    for (const line of this.lines) {
      if (!needle || needle.test(line.plain)) {
        // Marks follow the search: a line drawn with other marks (or none) is drawn again.
        if (!line.node || needle || line.marked) line.node = this.lineNode(line);
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
    const stamps = this.toggles && this.toggles.stamps.checked;
    return this.lines
      .map((line) => {
        const text = line.stream === "stderr" ? `[stderr] ${line.plain}` : line.plain;
        return stamps && line.at ? `${line.at.toISOString()} ${text}` : text;
      })
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

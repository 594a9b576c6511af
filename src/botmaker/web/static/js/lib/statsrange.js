// Time ranges of the resource charts (15 min, 1 h, 6 h, 24 h): a segmented control (native
// radios, so arrows and Tab work), the choice kept in the URL (?range=6h) and localStorage,
// and the series of a range from GET /api/bots/{bot}/stats?hours=... (the live 10 s points
// where they reach, the stored per-minute rows before them).

import { h } from "./dom.js";
import * as fmt from "./format.js";

export const RANGES = [
  { key: "15m", label: "15 min", words: "the last 15 minutes", hours: 0.25 },
  { key: "1h", label: "1 h", words: "the last hour", hours: 1 },
  { key: "6h", label: "6 h", words: "the last 6 hours", hours: 6 },
  { key: "24h", label: "24 h", words: "the last 24 hours", hours: 24 },
];
const STORAGE_KEY = "botmaker.statsRange";
const DEFAULT = "1h";

export function rangeOf(key) {
  return RANGES.find((r) => r.key === key) || RANGES.find((r) => r.key === DEFAULT);
}

/** The range asked for: the URL's ?range=, else the last choice, else one hour. */
export function chosenRange() {
  const fromUrl = new URLSearchParams(window.location.search).get("range");
  if (fromUrl && RANGES.some((r) => r.key === fromUrl)) return rangeOf(fromUrl);
  let stored = null;
  try {
    stored = window.localStorage.getItem(STORAGE_KEY);
  } catch {
    stored = null;
  }
  return rangeOf(stored);
}

function remember(range) {
  const url = new URL(window.location.href);
  url.searchParams.set("range", range.key);
  window.history.replaceState(window.history.state, "", url);
  try {
    window.localStorage.setItem(STORAGE_KEY, range.key);
  } catch {
    // private mode: the URL still carries the choice
  }
}

let groups = 0;

/** A segmented control of the ranges in ``container``; ``onChange(range)`` on a choice. */
export function rangeControl(container, current, onChange) {
  groups += 1;
  const name = `range-${groups}`;
  const options = RANGES.map((range) => {
    const input = h("input", { type: "radio", name, value: range.key, "data-range": range.key });
    input.checked = range.key === current.key;
    input.addEventListener("change", () => {
      if (!input.checked) return;
      remember(range);
      onChange(range);
    });
    return h("label", { class: "segment" }, input, h("span", {}, range.label));
  });
  const group = h("fieldset", { class: "segmented" }, h("legend", { class: "visually-hidden" }, "Time range"), options);
  container.replaceChildren(group);
  return group;
}

function timeOf(value) {
  const date = fmt.parseTime(value);
  return date ? date.getTime() : 0;
}

function liveRates(points, key) {
  const out = [];
  for (let i = 1; i < points.length; i += 1) {
    const dt = (points[i].t - points[i - 1].t) / 1000;
    const a = points[i - 1][key];
    const b = points[i][key];
    if (dt > 0 && Number.isFinite(a) && Number.isFinite(b)) out.push([points[i].t, Math.max(0, (b - a) / dt)]);
  }
  return out;
}

/**
 * The series of one range: {cpu, memory, rxRate, txRate} as [[timeMs, value]], oldest
 * first, and ``latestAt`` (the newest sample's time, or null). Stored rows (one a
 * minute: average CPU, peak memory, bytes moved in the minute) fill the range up to
 * the first live point; the live points (every few seconds, the last hour) follow.
 */
export function rangeSeries(data, range, now = Date.now()) {
  const start = now - range.hours * 3600_000;
  const live = (data.points || [])
    .map((p) => ({ ...p, t: timeOf(p.at), rx: p.rx_bytes, tx: p.tx_bytes }))
    .filter((p) => p.t >= start)
    .sort((a, b) => a.t - b.t);
  const firstLive = live.length ? live[0].t : Infinity;
  const step = Number(data.history_interval) || 60;
  const stored = (data.history || [])
    .map((row) => ({ ...row, t: Number(row.minute) * 1000 }))
    .filter((row) => row.t >= start && row.t + step * 1000 <= firstLive)
    .sort((a, b) => a.t - b.t);
  const rate = (row, key) => (Number.isFinite(row[key]) ? row[key] / step : null);
  return {
    cpu: [...stored.map((r) => [r.t, r.cpu_percent]), ...live.map((p) => [p.t, p.cpu_percent])],
    memory: [...stored.map((r) => [r.t, r.memory_bytes]), ...live.map((p) => [p.t, p.memory_bytes])],
    rxRate: [...stored.map((r) => [r.t, rate(r, "net_rx_bytes")]), ...liveRates(live, "rx")],
    txRate: [...stored.map((r) => [r.t, rate(r, "net_tx_bytes")]), ...liveRates(live, "tx")],
    latestAt: live.length ? live[live.length - 1].at : stored.length ? stored[stored.length - 1].minute : null,
  };
}

// Small line charts drawn as inline SVG (no library): one or two series over time.

import { h } from "./dom.js";

const SVG = "http://www.w3.org/2000/svg";
const W = 300;
const H = 90;

function svg(tag, attrs = {}) {
  const node = document.createElementNS(SVG, tag);
  for (const [key, value] of Object.entries(attrs)) node.setAttribute(key, String(value));
  return node;
}

function timeLabel(ms) {
  return new Date(ms).toLocaleTimeString("en-GB", { hour: "2-digit", minute: "2-digit" });
}

const MIN_DOMAIN = 60_000; // never narrower than a minute

/**
 * The x domain [start, end] in ms: from the range's start, or from the first sample in
 * the range when the data begins later (so a few minutes of data fill the width, not
 * the last 2 % of an hour), to now.
 */
export function domainOf(series, span, now = Date.now()) {
  const rangeStart = now - span;
  let first = Infinity;
  for (const s of series) for (const [t, v] of s.points) if (t >= rangeStart && Number.isFinite(v) && t < first) first = t;
  let start = Number.isFinite(first) ? Math.max(rangeStart, first) : rangeStart;
  if (now - start < MIN_DOMAIN) start = Math.max(rangeStart, now - MIN_DOMAIN);
  return [start, now];
}

/**
 * Draw into ``figure``: ``series`` = [{label, points: [[timeMs, value]]}], ``format``
 * turns a value into text. ``span`` = the range in ms (the last hour by default), named
 * by ``words`` in the summary; the x axis starts at the first sample within it.
 */
export function lineChart(figure, { title, series, format, span = 3600_000, minMax = 0, words = "the last hour" }) {
  const [start, now] = domainOf(series, span);
  const width = now - start;
  series = series.map((s) => ({ ...s, points: s.points.filter(([t]) => t >= start) }));
  const values = series.flatMap((s) => s.points.map(([, v]) => v)).filter((v) => Number.isFinite(v));
  const max = Math.max(minMax, ...values, 0) * 1.15 || 1;
  const x = (t) => ((t - start) / width) * W;
  const y = (v) => H - 2 - (v / max) * (H - 6);

  const chart = svg("svg", {
    viewBox: `0 0 ${W} ${H}`,
    preserveAspectRatio: "none",
    "aria-hidden": "true",
    focusable: "false",
    "data-start": Math.round(start),
    "data-end": Math.round(now),
  });
  for (const fraction of [0.25, 0.5, 0.75]) {
    chart.append(svg("line", { class: "grid-line", x1: 0, x2: W, y1: H * fraction, y2: H * fraction, "vector-effect": "non-scaling-stroke" }));
  }
  series.forEach((s, index) => {
    const points = s.points.filter(([t, v]) => t >= start && Number.isFinite(v));
    if (points.length === 0) return;
    const coords = points.map(([t, v]) => `${x(t).toFixed(1)},${y(v).toFixed(1)}`);
    if (points.length === 1) coords.push(`${(x(points[0][0]) + 2).toFixed(1)},${y(points[0][1]).toFixed(1)}`);
    if (index === 0) {
      const first = x(points[0][0]).toFixed(1);
      const last = x(points[points.length - 1][0]).toFixed(1);
      chart.append(svg("polygon", { class: `area s${index}`, points: `${first},${H} ${coords.join(" ")} ${last},${H}` }));
    }
    chart.append(svg("polyline", { class: `series s${index}`, points: coords.join(" "), "vector-effect": "non-scaling-stroke" }));
  });

  const latest = series.map((s) => {
    const last = s.points.length ? s.points[s.points.length - 1][1] : null;
    return { label: s.label, text: Number.isFinite(last) ? format(last) : "—" };
  });
  const peak = values.length ? format(Math.max(...values)) : "—";
  const summary = `${title}: ${latest.map((l) => `${l.label} ${l.text}`).join(", ")}; peak ${peak} in ${words} (from ${timeLabel(start)})`;
  figure.replaceChildren(
    h(
      "figcaption",
      {},
      h("span", {}, title),
      h(
        "span",
        {},
        latest.map((l, i) => [
          series.length > 1 ? h("span", { class: `legend-dot s${i}`, "aria-hidden": "true" }) : null,
          series.length > 1 ? `${l.label} ` : null,
          h("strong", {}, l.text),
          i < latest.length - 1 ? " · " : null,
        ]),
      ),
    ),
    h("div", { role: "img", "aria-label": summary }, chart),
    h("div", { class: "axis", "aria-hidden": "true" }, h("span", {}, timeLabel(start)), h("span", {}, `peak ${peak}`), h("span", {}, "now")),
  );
}

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

/**
 * Draw into ``figure``: ``series`` = [{label, points: [[timeMs, value]]}], ``format``
 * turns a value into text. ``span`` = the time window in ms (the last hour).
 */
export function lineChart(figure, { title, series, format, span = 3600_000, minMax = 0 }) {
  const now = Date.now();
  const start = now - span;
  const values = series.flatMap((s) => s.points.map(([, v]) => v)).filter((v) => Number.isFinite(v));
  const max = Math.max(minMax, ...values, 0) * 1.15 || 1;
  const x = (t) => ((t - start) / span) * W;
  const y = (v) => H - 2 - (v / max) * (H - 6);

  const chart = svg("svg", { viewBox: `0 0 ${W} ${H}`, preserveAspectRatio: "none", "aria-hidden": "true", focusable: "false" });
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
    return { label: s.label, text: last === null ? "—" : format(last) };
  });
  const peak = values.length ? format(Math.max(...values)) : "—";
  const summary = `${title}: ${latest.map((l) => `${l.label} ${l.text}`).join(", ")}; peak ${peak} in the last hour`;
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

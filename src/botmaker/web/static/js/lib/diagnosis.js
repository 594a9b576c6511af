// A bot's diagnosis (GET /api/bots/{bot}/diagnosis): its crash loop, the last change to
// its openclaw.json as a diff, and its log tail from the logs route (a LogViewer that
// does not follow). Everything the bot wrote is shown as text, never as markup.

import { api } from "./api.js";
import { h } from "./dom.js";
import * as fmt from "./format.js";
import { LogViewer } from "./logviewer.js";

/** One line of a unified diff, marked added, removed or a hunk header. */
function diffLine(line) {
  let kind = "";
  if (line.startsWith("+++") || line.startsWith("---")) kind = "diff-file";
  else if (line.startsWith("+")) kind = "diff-add";
  else if (line.startsWith("-")) kind = "diff-del";
  else if (line.startsWith("@@")) kind = "diff-hunk";
  return h("span", { class: `diff-line ${kind}`.trim() }, `${line}\n`);
}

function loopNotice(loop) {
  if (!loop) return null;
  return h(
    "div",
    { class: "notice notice-error", role: "alert", "data-diagnosis": "crash-loop" },
    h("strong", {}, "Crash loop. "),
    `${loop.detail} (since ${fmt.when(loop.since)}).`,
    loop.reason ? h("pre", { class: "diag-reason" }, loop.reason) : null,
  );
}

function changeBlock(change) {
  if (!change) {
    return h("p", { class: "muted", "data-diagnosis": "no-change" }, "BotMaker has not changed this bot's openclaw.json since it kept diffs.");
  }
  return h(
    "div",
    {},
    h("p", { class: "muted small" }, `${change.detail} · ${fmt.when(change.at)}`),
    h("pre", { class: "diff", "data-diagnosis": "diff", "aria-label": "Last change to openclaw.json" }, ...change.diff.split("\n").filter(Boolean).map(diffLine)),
  );
}

/** Fill ``container`` with the bot's diagnosis; returns it (or throws an ApiError). */
export async function showDiagnosis(container, base, name) {
  const data = await api(`${base}/diagnosis`);
  const logs = h("div", { "data-diagnosis": "logs" });
  container.replaceChildren(
    ...[loopNotice(data.crash_loop)].filter(Boolean),
    h("h3", {}, "Last configuration change"),
    changeBlock(data.config_change),
    h("h3", {}, "Log tail"),
    logs,
  );
  const viewer = new LogViewer(logs, { name: `${name}-tail`, maxLines: 200, label: `Log tail of ${name}` });
  viewer.connect(data.logs);
  return data;
}

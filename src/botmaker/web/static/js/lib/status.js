// A bot's state (the API's status.summary, services/botstate.py) as a badge: text, tone
// and the reason in words.

const TONES = {
  healthy: "ok",
  running: "ok",
  degraded: "warn",
  starting: "warn",
  restarting: "warn",
  stopping: "warn",
  creating: "warn",
  created: "warn",
  removing: "warn",
  health_unknown: "idle",
  unhealthy: "bad",
  crash_loop: "bad",
  crashed: "bad",
  exited: "bad",
  dead: "bad",
  missing: "bad",
  stopped: "idle",
  paused: "idle",
};

const LABELS = {
  missing: "no container",
  crash_loop: "crash loop",
  health_unknown: "health unknown",
  stopping: "stopping…",
  restarting: "restarting…",
  starting: "starting…",
};

export function summaryOf(status) {
  if (!status) return "unknown";
  return status.summary || status.state || "unknown";
}

export function label(status) {
  const summary = summaryOf(status);
  if ((summary === "crashed" || summary === "exited") && status.exit_code !== null && status.exit_code !== undefined) {
    return `${summary} (${status.exit_code})`;
  }
  return LABELS[summary] || summary;
}

export function tone(status) {
  return TONES[summaryOf(status)] || "idle";
}

/** The reason shown with the state, in words ("" when none). */
export function reason(status) {
  if (!status) return "";
  return status.reason || status.detail || (status.oom_killed ? "killed: out of memory" : "");
}

export function isUp(status) {
  return Boolean(status && (status.running || status.state === "running"));
}

/** Fill (or create) a badge element for this status. */
export function badge(status, node = document.createElement("span")) {
  node.className = `badge badge-${tone(status)}`;
  node.textContent = label(status);
  node.dataset.status = summaryOf(status);
  const why = reason(status);
  if (why) node.title = why;
  else node.removeAttribute("title");
  return node;
}

/** Whether a status matches the list's status filter value. */
export function matches(status, filter) {
  if (!filter) return true;
  const summary = summaryOf(status);
  if (filter === "running") return isUp(status);
  return summary === filter;
}

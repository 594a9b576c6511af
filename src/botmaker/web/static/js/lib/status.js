// A bot's status (RuntimeStatus.to_dict) as a badge: text, tone and a sentence.

const TONES = {
  healthy: "ok",
  running: "ok",
  starting: "warn",
  restarting: "warn",
  creating: "warn",
  created: "warn",
  removing: "warn",
  unhealthy: "bad",
  crash_loop: "bad",
  exited: "bad",
  dead: "bad",
  missing: "bad",
  stopped: "idle",
  paused: "idle",
};

export function summaryOf(status) {
  if (!status) return "unknown";
  return status.summary || status.state || "unknown";
}

export function label(status) {
  const summary = summaryOf(status);
  if (summary === "exited" && status.exit_code !== null && status.exit_code !== undefined) {
    return `exited (${status.exit_code})`;
  }
  if (summary === "missing") return "no container";
  if (summary === "crash_loop") return "crash loop";
  return summary;
}

export function tone(status) {
  return TONES[summaryOf(status)] || "idle";
}

export function isUp(status) {
  return Boolean(status && (status.running || status.state === "running"));
}

/** Fill (or create) a badge element for this status. */
export function badge(status, node = document.createElement("span")) {
  node.className = `badge badge-${tone(status)}`;
  node.textContent = label(status);
  node.dataset.status = summaryOf(status);
  const detail = status && (status.detail || (status.oom_killed ? "killed: out of memory" : ""));
  if (detail) node.title = detail;
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

// The "Docker engine is down" banner on every logged-in page. The server renders it as
// the event monitor last saw the engine; this keeps it current: GET /api/engine every
// few seconds (no engine call behind it), and at once when a page's event stream or an
// API answer (503 engine_unavailable) tells. Listeners get an "enginechange" event.

import { announce } from "./notify.js";

const POLL_MS = 3000;
const banner = document.getElementById("engine-banner");
let current = banner ? banner.dataset.engine : "";

/** The engine's state as this page last heard it: "up", "down" or "connecting". */
export function engineState() {
  return current;
}

/** Show the engine's state: {state: "up"|"down"|"connecting", message?}. */
export function showEngine(engine) {
  if (!banner || !engine || !engine.state) return;
  const { state } = engine;
  if (state === "down") {
    const reason = document.getElementById("engine-banner-reason");
    if (reason) reason.textContent = engine.message || "BotMaker cannot reach it.";
  }
  banner.hidden = state !== "down";
  banner.dataset.engine = state;
  if (state === current) return;
  const before = current;
  current = state;
  if (state === "down") announce("The Docker engine is down");
  else if (before === "down" && state === "up") announce("The Docker engine answers again");
  document.dispatchEvent(new CustomEvent("enginechange", { detail: { state, before } }));
}

/** An API error: if it says the engine does not answer, show that. */
export function engineError(err) {
  if (err && err.code === "engine_unavailable") showEngine({ state: "down", message: err.message });
}

async function poll() {
  try {
    const response = await fetch("/api/engine", { credentials: "same-origin", cache: "no-store", headers: { Accept: "application/json" } });
    if (response.ok) showEngine(await response.json());
  } catch {
    /* BotMaker itself does not answer: the pages say so on their own */
  }
}

if (banner) window.setInterval(poll, POLL_MS);

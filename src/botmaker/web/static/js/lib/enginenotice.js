// What a page does while the Docker engine is down, beyond the banner (engine.js): a
// notice of its own where the user is about to need the engine (the wizard's first step),
// and a guard for an action that cannot work until it answers again.

import { engineState } from "./engine.js";

/** Call ``onChange(state)`` now ("up", "down" or "connecting") and on every change. */
export function watchEngine(onChange) {
  onChange(engineState());
  document.addEventListener("enginechange", (event) => onChange(event.detail.state));
}

/** Keep ``notice`` shown while the engine is down. */
export function engineNotice(notice) {
  watchEngine((state) => {
    notice.hidden = state !== "down";
  });
}

/** True (and ``notice`` shown and focused, so it is read) if the engine is down. */
export function engineBlocks(notice) {
  if (engineState() !== "down") return false;
  notice.hidden = false;
  notice.setAttribute("tabindex", "-1");
  notice.focus();
  return true;
}

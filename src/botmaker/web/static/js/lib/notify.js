// Telling the user something: a toast in the corner, or a polite message for screen
// readers. Its own module (not common.js) so that engine.js can announce without
// importing the page setup that imports engine.js.

import { h } from "./dom.js";

/** Say something to screen-reader users (polite). */
export function announce(message) {
  const region = document.getElementById("announcer");
  if (!region) return;
  region.textContent = "";
  window.setTimeout(() => {
    region.textContent = message;
  }, 30);
}

/** A short message in the corner (kind: "ok", "error" or ""). */
export function toast(message, kind = "") {
  // The notification centre (inbox.js) keeps it after the toast is gone.
  document.dispatchEvent(new CustomEvent("botmaker:toast", { detail: { message, kind } }));
  const box = document.getElementById("toasts");
  if (!box) return;
  const node = h("div", { class: `toast${kind ? ` toast-${kind}` : ""}`, role: kind === "error" ? "alert" : "status" }, message);
  box.append(node);
  window.setTimeout(() => node.remove(), kind === "error" ? 8000 : 4000);
}

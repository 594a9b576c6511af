// Shared by every page: the theme toggle, toasts, the aria-live announcer and the
// engine banner (engine.js).

import { h } from "./dom.js";
import "./engine.js";

const THEME_KEY = "botmaker-theme";

function currentTheme() {
  return document.documentElement.getAttribute("data-theme") === "light" ? "light" : "dark";
}

function syncToggle(button) {
  const light = currentTheme() === "light";
  button.setAttribute("aria-pressed", String(light));
  const label = document.getElementById("theme-toggle-label");
  if (label) label.textContent = "Light theme";
  button.title = light ? "Switch to the dark theme" : "Switch to the light theme";
}

export function initTheme() {
  const button = document.getElementById("theme-toggle");
  if (!button) return;
  syncToggle(button);
  button.addEventListener("click", () => {
    const next = currentTheme() === "light" ? "dark" : "light";
    document.documentElement.setAttribute("data-theme", next);
    try {
      window.localStorage.setItem(THEME_KEY, next);
    } catch {
      /* private mode: the choice lasts for this page only */
    }
    syncToggle(button);
    document.dispatchEvent(new CustomEvent("themechange", { detail: next }));
  });
}

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
  const box = document.getElementById("toasts");
  if (!box) return;
  const node = h("div", { class: `toast${kind ? ` toast-${kind}` : ""}`, role: kind === "error" ? "alert" : "status" }, message);
  box.append(node);
  window.setTimeout(() => node.remove(), kind === "error" ? 8000 : 4000);
}

initTheme();

// Imported by every page for its side effects: the theme toggle, the engine banner
// (engine.js) and the notification centre (inbox.js). Toasts and the screen-reader
// announcer are in notify.js.

import "./engine.js";
import "./inbox.js";
import "./tablecards.js";

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

initTheme();

// "Test this key": the keyring makes one tiny call to the provider with the key (its
// models list) and the answer is shown in words next to the key. The key is sent to
// BotMaker only, for this one call, and kept nowhere.

import { api } from "./api.js";
import { announce } from "./notify.js";

/** Run a key test (``path``, ``body``) and show its outcome in ``output``. */
export async function runKeyTest(button, output, path, body) {
  button.disabled = true;
  button.setAttribute("aria-busy", "true");
  output.hidden = false;
  output.removeAttribute("data-ok");
  output.textContent = "Testing the key…";
  try {
    const result = await api(path, { method: "POST", body });
    output.dataset.ok = String(Boolean(result.ok));
    output.textContent = result.ok ? `✓ ${result.message}` : `✕ ${result.message}`;
  } catch (err) {
    output.dataset.ok = "false";
    output.textContent = `✕ ${err.message}`;
  } finally {
    button.disabled = false;
    button.removeAttribute("aria-busy");
  }
  announce(output.textContent);
}

/**
 * Wire a "Test this key" button: ``body()`` gives ``{provider, key, ...}`` (or a string:
 * why it cannot test yet). The result shows in ``output`` (cleared when the key changes).
 */
export function keyTestButton(button, output, keyInput, body) {
  button.addEventListener("click", () => {
    const request = body();
    if (typeof request === "string") {
      output.hidden = false;
      output.dataset.ok = "false";
      output.textContent = request;
      keyInput.focus();
      return;
    }
    runKeyTest(button, output, "/api/keys/test", request);
  });
  keyInput.addEventListener("input", () => {
    output.hidden = true;
    output.textContent = "";
  });
}

// Running an API call from a button, the same way on every page: the button is busy
// (disabled, aria-busy, optionally a "…ing" label) while the call runs, the outcome is
// told (a toast, or the caller's own place for errors), and the page refreshes after.

import { ApiError } from "./api.js";
import { toast } from "./notify.js";

/** Run ``call()`` with ``button`` busy; the button is enabled again afterwards. */
export async function whileBusy(button, call, busyText = "") {
  const label = button.textContent;
  button.disabled = true;
  button.setAttribute("aria-busy", "true");
  if (busyText) button.textContent = busyText;
  try {
    return await call();
  } finally {
    button.disabled = false;
    button.removeAttribute("aria-busy");
    if (busyText) button.textContent = label;
  }
}

/** What a failed action shows: the API's message, or "failed" for anything else. */
export function failure(err) {
  if (err instanceof ApiError) return err.message;
  console.error(err); // a bug of ours, not an answer of the server: for the developer
  return "failed";
}

/**
 * Run the async API ``call`` for ``button``. On success: ``done(result)``, then the ``ok``
 * toast (text, or a function of the result). On failure: ``fail(err)``, by default an
 * error toast. Always ``refresh()`` last. ``subject`` (a bot's name) heads both toasts.
 * Resolves to the result, or undefined when the call failed (already shown).
 */
export async function runAction(button, call, { busyText, done, ok, fail, subject, refresh } = {}) {
  const about = (text) => (subject ? `${subject}: ${text}` : text);
  try {
    const result = await whileBusy(button, call, busyText);
    if (done) done(result);
    if (ok) toast(about(typeof ok === "function" ? ok(result) : ok), "ok");
    return result;
  } catch (err) {
    if (fail) fail(err);
    else toast(about(failure(err)), "error");
    return undefined;
  } finally {
    if (refresh) refresh();
  }
}

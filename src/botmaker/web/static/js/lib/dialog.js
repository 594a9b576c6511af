// Confirmation dialogs already in the page: a plain yes/no, and deleting a bot, which
// asks for its name to be typed first.

import { whileBusy } from "./action.js";
import { $ } from "./dom.js";

/**
 * Open ``dialog`` (its form's submit = yes). On yes run ``action()`` (async) with
 * ``submit`` busy: its result closes the dialog and resolves the promise; its error shows
 * in ``error`` and the dialog stays open. Cancel resolves null. ``ready()`` says whether
 * yes may run now; ``focus`` is the element focused first (default: ``cancel``).
 */
export function confirmDialog(dialog, { submit, cancel, error, action, ready = () => true, focus = cancel }) {
  if (error) error.hidden = true;
  return new Promise((resolve) => {
    const form = dialog.querySelector("form");
    const finish = (result) => {
      form.removeEventListener("submit", onSubmit);
      cancel.removeEventListener("click", onCancel);
      dialog.removeEventListener("cancel", onCancel);
      if (dialog.open) dialog.close();
      resolve(result);
    };
    const onCancel = (event) => {
      if (event) event.preventDefault();
      finish(null);
    };
    const onSubmit = async (event) => {
      event.preventDefault();
      if (!ready()) return;
      try {
        finish(await whileBusy(submit, action));
      } catch (err) {
        if (error) {
          error.textContent = err.message;
          error.hidden = false;
        }
      }
    };
    form.addEventListener("submit", onSubmit);
    cancel.addEventListener("click", onCancel);
    dialog.addEventListener("cancel", onCancel);
    dialog.showModal();
    focus.focus();
  });
}

/**
 * Ask to type ``name``; on confirm run ``action()`` (async). Resolves true once done,
 * false if cancelled. Errors from the action show in the dialog.
 */
export async function confirmDelete(name, action) {
  const input = $("#delete-confirm");
  const submit = $("#delete-submit");
  const typed = () => input.value.trim() === name;
  const onInput = () => {
    submit.disabled = !typed();
  };
  $("#delete-name").textContent = name;
  input.value = "";
  submit.disabled = true;
  input.addEventListener("input", onInput);
  try {
    const done = await confirmDialog($("#delete-dialog"), {
      submit,
      cancel: $("#delete-cancel"),
      error: $("#delete-error"),
      action: async () => {
        await action();
        return true;
      },
      ready: typed,
      focus: input,
    });
    return done === true;
  } finally {
    input.removeEventListener("input", onInput);
  }
}

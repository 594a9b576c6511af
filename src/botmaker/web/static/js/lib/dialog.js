// Confirmation dialogs: deleting a bot asks for its name to be typed.

import { $ } from "./dom.js";

/**
 * Ask to type ``name``; on confirm run ``action()`` (async). Resolves true once done,
 * false if cancelled. Errors from the action show in the dialog.
 */
export function confirmDelete(name, action) {
  const dialog = $("#delete-dialog");
  const input = $("#delete-confirm");
  const submit = $("#delete-submit");
  const error = $("#delete-error");
  $("#delete-name").textContent = name;
  input.value = "";
  submit.disabled = true;
  error.hidden = true;
  return new Promise((resolve) => {
    const onInput = () => {
      submit.disabled = input.value.trim() !== name;
    };
    const finish = (result) => {
      input.removeEventListener("input", onInput);
      $("#delete-form").removeEventListener("submit", onSubmit);
      $("#delete-cancel").removeEventListener("click", onCancel);
      dialog.removeEventListener("cancel", onCancel);
      if (dialog.open) dialog.close();
      resolve(result);
    };
    const onCancel = (event) => {
      if (event) event.preventDefault();
      finish(false);
    };
    const onSubmit = async (event) => {
      event.preventDefault();
      if (input.value.trim() !== name) return;
      submit.disabled = true;
      submit.setAttribute("aria-busy", "true");
      try {
        await action();
        finish(true);
      } catch (err) {
        error.textContent = err.message;
        error.hidden = false;
        submit.disabled = false;
      } finally {
        submit.removeAttribute("aria-busy");
      }
    };
    input.addEventListener("input", onInput);
    $("#delete-form").addEventListener("submit", onSubmit);
    $("#delete-cancel").addEventListener("click", onCancel);
    dialog.addEventListener("cancel", onCancel);
    dialog.showModal();
    input.focus();
  });
}

/** A plain yes/no dialog already in the page (its form submit = yes). */
export function confirmDialog(dialog, { submit, cancel, error, action }) {
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
      submit.disabled = true;
      submit.setAttribute("aria-busy", "true");
      try {
        finish(await action());
      } catch (err) {
        if (error) {
          error.textContent = err.message;
          error.hidden = false;
        }
      } finally {
        submit.disabled = false;
        submit.removeAttribute("aria-busy");
      }
    };
    form.addEventListener("submit", onSubmit);
    cancel.addEventListener("click", onCancel);
    dialog.addEventListener("cancel", onCancel);
    dialog.showModal();
    cancel.focus();
  });
}

// Showing the API's 422 errors next to the field they name (error.field), until the
// user types there again.

import { h } from "./dom.js";

function candidates(field) {
  const parts = String(field || "").split(".");
  const out = [];
  for (let n = parts.length; n > 0; n -= 1) out.push(parts.slice(0, n).join("."));
  return out;
}

/** The input for an API field name ("fallbacks.0" falls back to "fallbacks"). */
export function inputFor(root, field) {
  for (const name of candidates(field)) {
    const node = root.querySelector(`[data-field="${CSS.escape(name)}"]`);
    if (node) return node;
  }
  return null;
}

/** The input is no longer in error: drop aria-invalid and its "-error" description. */
function unmark(input) {
  input.removeAttribute("aria-invalid");
  const ids = (input.getAttribute("aria-describedby") || "")
    .split(" ")
    .filter((id) => id && !id.endsWith("-error"));
  if (ids.length) input.setAttribute("aria-describedby", ids.join(" "));
  else input.removeAttribute("aria-describedby");
}

/** Remove the error shown under one input (its message and aria-invalid). */
export function clearFieldError(input) {
  const holder = input.closest(".field") || input.closest(".check") || input.parentElement;
  let error = holder && holder.querySelector(".field-error[data-for]");
  if (!error && holder && holder.classList.contains("check")) {
    const next = holder.nextElementSibling; // a checkbox's error follows its label
    if (next && next.matches(".field-error[data-for]")) error = next;
  }
  if (error) error.remove();
  if (input.getAttribute("aria-invalid") === "true") unmark(input);
}

/** Remove every field error under ``root``, and hide the message ``boxes`` given. */
export function clearErrors(root, ...boxes) {
  for (const node of root.querySelectorAll(".field-error[data-for]")) node.remove();
  for (const node of root.querySelectorAll('[aria-invalid="true"]')) unmark(node);
  for (const box of boxes) box.hidden = true;
}

/**
 * Put the message under the field's input; returns the input, or null if none matches.
 * Typing in the input clears it again (the user is fixing it).
 */
export function showFieldError(root, field, message) {
  const input = inputFor(root, field);
  if (!input) return null;
  const id = `${input.id || input.name || "field"}-error`;
  const error = h("p", { class: "field-error", id, "data-for": field, role: "alert" }, message);
  const holder = input.closest(".field") || input.closest(".check") || input.parentElement;
  const existing = holder.querySelector(`.field-error[data-for]`);
  if (existing) existing.remove();
  if (holder.classList.contains("check")) holder.after(error);
  else holder.append(error);
  input.setAttribute("aria-invalid", "true");
  const described = (input.getAttribute("aria-describedby") || "").split(" ").filter(Boolean);
  if (!described.includes(id)) described.push(id);
  input.setAttribute("aria-describedby", described.join(" "));
  input.addEventListener(
    "input",
    () => {
      error.remove();
      unmark(input);
    },
    { once: true },
  );
  return input;
}

/**
 * Show an API error (``{error: {code, message, field}}``): under the field it names,
 * which gets the focus, else as the text of ``box``. Returns the input, or null.
 */
export function showApiError(root, err, box) {
  const input = err.field ? showFieldError(root, err.field, err.message) : null;
  if (input) {
    input.focus();
    return input;
  }
  box.textContent = err.message;
  box.hidden = false;
  return null;
}

/** Comma- or newline-separated text as a list of trimmed, non-empty entries. */
export function listOf(text, separator = /[,\n]/) {
  return String(text || "")
    .split(separator)
    .map((s) => s.trim())
    .filter(Boolean);
}

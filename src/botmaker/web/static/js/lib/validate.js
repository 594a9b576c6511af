// Live checks of a form against the API's own rules: the page sends what the user has
// typed to a validate endpoint (POST /api/bots/validate, /api/keys/validate), which runs
// the create's schema and rules and answers every problem in words. No rule lives here.
//
// A problem shows next to its field once the user has left that field (or asked to go
// on); a field they fixed loses its message at the next answer.

import { api } from "./api.js";
import { h } from "./dom.js";
import { clearFieldError, inputFor, showFieldError } from "./fields.js";

function holderOf(input) {
  return input.closest(".field") || input.closest(".check") || input.parentElement;
}

/** A warning under the field (accepted by the API, but doubtful): no aria-invalid. */
function showWarning(input, message) {
  const id = `${input.id || input.name || "field"}-warning`;
  const holder = holderOf(input);
  let note = holder.querySelector(".field-warn[data-warn]");
  if (!note) {
    note = h("p", { class: "field-warn", id, "data-warn": "", role: "status" });
    holder.append(note);
  }
  note.textContent = message;
  const described = (input.getAttribute("aria-describedby") || "").split(" ").filter(Boolean);
  if (!described.includes(id)) input.setAttribute("aria-describedby", [...described, id].join(" "));
}

function clearWarning(input) {
  const note = holderOf(input).querySelector(".field-warn[data-warn]");
  if (!note) return;
  const ids = (input.getAttribute("aria-describedby") || "").split(" ").filter((x) => x && x !== note.id);
  if (ids.length) input.setAttribute("aria-describedby", ids.join(" "));
  else input.removeAttribute("aria-describedby");
  note.remove();
}

export class LiveCheck {
  /**
   * root: the form; path: the validate endpoint; body(): the request body as it stands;
   * onResult(result): called with every fresh answer (before messages are shown).
   */
  constructor(root, path, body, { delay = 350, onResult = null } = {}) {
    this.root = root;
    this.path = path;
    this.body = body;
    this.delay = delay;
    this.onResult = onResult;
    this.touched = new Set(); // inputs the user has left, or was sent back to
    this.shown = new Set(); // inputs with a message on them now
    this.asked = 0;
    this.timer = 0;
    this.last = null; // the newest answer
    this.latest = null; // the newest question's promise
    root.addEventListener("focusout", (event) => {
      const input = event.target;
      if (!(input instanceof HTMLElement) || !input.matches("[data-field]")) return;
      if (input.type === "radio" || input.type === "checkbox") return;
      this.touched.add(input);
      this.schedule(0);
    });
    root.addEventListener("input", (event) => {
      if (event.target instanceof HTMLElement && event.target.matches("[data-field]")) this.schedule();
    });
    root.addEventListener("change", () => this.schedule());
  }

  schedule(delay = this.delay) {
    window.clearTimeout(this.timer);
    this.timer = window.setTimeout(() => this.now(), delay);
  }

  /** Ask now; the answer (to the newest question), or null when the check itself
   * failed: a check that cannot run never blocks the user. */
  now() {
    window.clearTimeout(this.timer);
    const asked = ++this.asked;
    this.latest = this.ask(asked);
    return this.latest;
  }

  async ask(asked) {
    let result;
    try {
      result = await api(this.path, { method: "POST", body: this.body() });
    } catch {
      return asked === this.asked ? null : this.latest;
    }
    if (asked !== this.asked) return this.latest; // asked again meanwhile: that answer
    this.last = result;
    if (this.onResult) this.onResult(result);
    this.show(result);
    return result;
  }

  /** Messages for the touched fields: the first problem of each, else its warning. */
  show(result) {
    const problems = new Map();
    const warnings = new Map();
    for (const [list, into] of [[result.problems, problems], [result.warnings || [], warnings]]) {
      for (const p of list) {
        const input = inputFor(this.root, p.field);
        if (input && !into.has(input)) into.set(input, p);
      }
    }
    for (const input of [...this.shown]) {
      if (!problems.has(input) || !this.touched.has(input)) {
        clearFieldError(input);
        this.shown.delete(input);
      }
    }
    for (const input of this.touched) {
      const problem = problems.get(input);
      // A field being typed in gets its message back when it is left, not at every key.
      const typing = input === document.activeElement && input.getAttribute("aria-invalid") !== "true";
      if (problem && !typing) {
        if (input.getAttribute("aria-invalid") !== "true" || this.messageOf(input) !== problem.message) {
          showFieldError(this.root, problem.field, problem.message);
        }
        this.shown.add(input);
      }
      const warning = warnings.get(input);
      if (warning && !problem) showWarning(input, warning.message);
      else clearWarning(input);
    }
  }

  messageOf(input) {
    const error = holderOf(input).querySelector(".field-error[data-for]");
    return error ? error.textContent : "";
  }

  /**
   * The problems on fields inside ``scope`` (a step): shown at once, the first field
   * focused. Returns how many there were (0: the user may go on).
   */
  async refuseIn(scope) {
    const active = document.activeElement;
    if (active instanceof HTMLElement && scope.contains(active) && active.matches("[data-field]")) this.touched.add(active);
    const result = await this.now();
    if (!result) return 0;
    const bad = [];
    for (const p of result.problems) {
      const input = inputFor(this.root, p.field);
      if (input && scope.contains(input) && !input.closest("[hidden]") && !bad.includes(input)) bad.push(input);
    }
    for (const input of bad) this.touched.add(input);
    this.show(result);
    if (bad.length) bad[0].focus();
    return bad.length;
  }
}

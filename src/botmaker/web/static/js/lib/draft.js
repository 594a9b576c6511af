// A form's draft in the tab's sessionStorage, so a reload does not lose it. Secrets are
// never stored: no password input, no field named like a key, token, password or
// secret, nothing under secrets.* — those are typed again after a reload.

const SECRET_NAME = /(^|[._-])(api_?key|key|token|password|passphrase|secret|credentials?)s?($|[._-])/i;

/** Whether an input may hold a secret (and so is never written to the browser's storage). */
export function isSecret(input) {
  if (input.type === "password" || input.type === "file") return true;
  const names = [input.dataset.field, input.name, input.id].filter(Boolean);
  return names.some((name) => name.startsWith("secrets.") || SECRET_NAME.test(name));
}

export class Draft {
  constructor(key, form) {
    this.key = key;
    this.form = form;
  }

  /** The form's non-secret values: by id, and radio groups by name. */
  collect(extra = {}) {
    const values = {};
    for (const input of this.form.querySelectorAll("input, select, textarea")) {
      if (isSecret(input)) continue;
      if (input.type === "radio") {
        if (input.checked && input.name) values[`radio:${input.name}`] = input.value;
      } else if (input.id) {
        values[input.id] = input.type === "checkbox" ? input.checked : input.value;
      }
    }
    return { values, ...extra, saved: Date.now() };
  }

  save(extra) {
    try {
      window.sessionStorage.setItem(this.key, JSON.stringify(this.collect(extra)));
    } catch {
      // storage full or refused (private mode): the draft is only not kept
    }
  }

  load() {
    try {
      const text = window.sessionStorage.getItem(this.key);
      const draft = text ? JSON.parse(text) : null;
      return draft && typeof draft.values === "object" ? draft : null;
    } catch {
      return null;
    }
  }

  clear() {
    try {
      window.sessionStorage.removeItem(this.key);
    } catch {
      // nothing kept, nothing to clear
    }
  }

  /** Put saved values back into the inputs that exist now (secrets are never among them). */
  apply(values, only = null) {
    for (const [name, value] of Object.entries(values)) {
      if (only && !only.includes(name)) continue;
      if (name.startsWith("radio:")) {
        const group = name.slice(6);
        for (const radio of this.form.querySelectorAll('input[type="radio"]')) {
          if (radio.name === group) radio.checked = radio.value === value;
        }
        continue;
      }
      const input = this.form.querySelector(`#${CSS.escape(name)}`);
      if (!input || isSecret(input)) continue;
      if (input.type === "checkbox") input.checked = Boolean(value);
      else input.value = String(value);
    }
  }
}

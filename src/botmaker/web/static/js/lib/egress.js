// A bot's egress policy ("Network access"): the mode radios and allowlist of
// _egress_fields.html, in the wizard and on the bot page; and the bot page's panel: the
// policy (editable with bot.edit, saved with PUT, no restart) and the latest refusals,
// each with "Allow this host" (POST …/egress/allow), refreshed on egress_denied events.

import { announce } from "./notify.js";
import { runAction } from "./action.js";
import { api } from "./api.js";
import { $, h } from "./dom.js";
import { clearErrors, listOf, showApiError } from "./fields.js";
import * as fmt from "./format.js";

export const EGRESS_DENIED = "egress_denied";
export const MODE_LABELS = {
  allowlist: "Allowlist: only the listed hosts",
  open: "Open: any public host",
  none: "None: nothing but the keyring",
};

/** The host patterns of the allowlist's text (one per line, or comma-separated). */
export const hostsOf = (text) => listOf(text, /[\n,]+/);

/** The mode radios and allowlist of one _egress_fields.html (its ``prefix``). */
export class EgressFields {
  constructor(root, prefix) {
    this.root = root;
    this.prefix = prefix;
    this.allow = $(`#${prefix}-egress-allow`, root);
    this.allowGroup = $(`#${prefix}-egress-allow-group`, root);
    this.radios = Array.from(root.querySelectorAll(`input[name="${prefix}-egress-mode"]`));
    this.onMode = () => {};
    for (const radio of this.radios) radio.addEventListener("change", () => this.modeChanged());
  }

  get mode() {
    const checked = this.radios.find((r) => r.checked);
    return checked ? checked.value : "allowlist";
  }

  set mode(value) {
    for (const radio of this.radios) radio.checked = radio.value === value;
    this.modeChanged();
  }

  get hosts() {
    return hostsOf(this.allow.value);
  }

  set hosts(list) {
    this.allow.value = list.join("\n");
  }

  modeChanged() {
    this.allowGroup.hidden = this.mode !== "allowlist";
    this.onMode(this.mode);
  }

  /** The body the API takes (a create's ``egress``, or PUT …/egress). */
  body() {
    return this.mode === "allowlist" ? { mode: this.mode, allow: this.hosts } : { mode: this.mode };
  }
}

/** "refused host:port: reason" → its reason. */
function reasonOf(detail) {
  const parts = String(detail || "").split(": ");
  return parts.length > 1 ? parts.slice(1).join(": ") : String(detail || "");
}

function targetOf(detail) {
  return String(detail || "").replace(/^refused /, "").split(": ")[0];
}

/**
 * The bot page's panel. ``canEdit``: the user has bot.edit (else the policy is shown
 * read-only and refusals have no button). Returns ``{refresh}``: load the policy and
 * refusals again (the form only if the user has not changed it).
 */
export function mountEgress(card, { base, canEdit, subject }) {
  const form = $("#egress-form", card);
  const fields = new EgressFields(form, "e");
  const view = $("#egress-view", card);
  const list = $("#egress-refusals", card);
  const empty = $("#egress-refusals-empty", card);
  const error = $("#egress-error", card);
  const ok = $("#egress-ok", card);
  let saved = null; // the policy as last loaded or saved
  let seen = null; // the newest refusal shown (to announce new ones)
  let version = 0; // one more at each change made here: an answer from before is stale
  let busy = false;
  let again = false;
  form.hidden = !canEdit;
  view.hidden = canEdit;

  const current = () => JSON.stringify({ mode: fields.mode, allow: fields.hosts });
  const savedText = () => (saved ? JSON.stringify({ mode: saved.mode, allow: saved.allow }) : "");
  const dirty = () => saved !== null && current() !== savedText();

  function fill() {
    fields.mode = saved.mode;
    fields.hosts = saved.allow;
  }

  function renderView() {
    const hosts = saved.allow.length
      ? h("ul", { class: "egress-hosts mono" }, saved.allow.map((host) => h("li", {}, host)))
      : h("span", { class: "muted" }, "none");
    view.replaceChildren(
      h("dt", {}, "Mode"),
      h("dd", { id: "egress-view-mode" }, MODE_LABELS[saved.mode] || saved.mode),
      h("dt", {}, "Allowed hosts"),
      h("dd", {}, saved.mode === "allowlist" ? hosts : h("span", { class: "muted" }, `not used (${saved.mode})`)),
    );
  }

  function refusalItem(refusal) {
    const allowed = refusal.host && saved.mode === "allowlist" && saved.allow.includes(refusal.host);
    let action = null;
    if (allowed) action = h("span", { class: "muted small" }, "now allowed");
    else if (canEdit && refusal.host && saved.mode !== "open") {
      const button = h(
        "button",
        { type: "button", class: "btn btn-small", "aria-label": `Allow ${refusal.host}` },
        "Allow this host",
      );
      button.addEventListener("click", () => allowHost(button, refusal.host));
      action = button;
    }
    return h(
      "li",
      { class: "event-bad refusal", "data-host": refusal.host || "" },
      h("div", { class: "row row-wrap" },
        h("span", { class: "grow" },
          h("span", { class: "mono" }, refusal.host || targetOf(refusal.detail)),
          " · ",
          h("time", { class: "muted small" }, fmt.when(refusal.at)),
          h("div", { class: "small" }, reasonOf(refusal.detail)),
        ),
        action,
      ),
    );
  }

  function render(policy) {
    const wasDirty = dirty();
    saved = { mode: policy.mode, allow: policy.allow };
    if (!wasDirty) fill();
    renderView();
    $("#egress-unenforced", card).hidden = policy.enforced !== false;
    const refusals = policy.refusals || [];
    list.replaceChildren(...refusals.map(refusalItem));
    empty.textContent = "None.";
    empty.hidden = refusals.length > 0;
    const newest = refusals[0] ? `${refusals[0].at} ${refusals[0].detail}` : "";
    if (seen !== null && newest && newest !== seen) announce(`${subject}: connection refused: ${targetOf(refusals[0].detail)}`);
    seen = newest;
  }

  /** Ask again; a call while one is on its way makes it ask once more when it is done
   *  (the event that called may be newer than its answer). */
  async function refresh() {
    if (busy) {
      again = true;
      return;
    }
    busy = true;
    try {
      do {
        again = false;
        const asked = version;
        try {
          const policy = await api(`${base}/egress`);
          if (asked === version) render(policy);
          else again = true; // changed here meanwhile: this answer may be older
        } catch (err) {
          empty.textContent = `Could not load the network policy: ${err.message}`;
          empty.hidden = false;
        }
      } while (again);
    } finally {
      busy = false;
    }
  }

  /** The policy a change made here answered with: the form takes it whole. */
  function changed(policy) {
    version += 1;
    saved = null;
    render(policy);
  }

  async function allowHost(button, host) {
    clearErrors(form, error, ok);
    await runAction(button, () => api(`${base}/egress/allow`, { method: "POST", body: { host } }), {
      subject,
      done: (policy) => {
        const typed = dirty() ? fields.hosts : null; // unsaved edits stay, with the host
        changed(policy);
        if (typed) fields.hosts = typed.includes(host) ? typed : [...typed, host];
      },
      ok: `${host} allowed`,
    });
  }

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    clearErrors(form, error, ok);
    ok.textContent = "";
    await runAction($("#egress-save", form), () => api(`${base}/egress`, { method: "PUT", body: fields.body() }), {
      busyText: "Saving…",
      done: (policy) => {
        changed(policy);
        ok.textContent = "Saved: in force within a second (no restart).";
        ok.hidden = false;
        announce(`${subject}: network access saved`);
      },
      fail: (err) => showApiError(form, err, error),
    });
  });

  form.addEventListener("reset", (event) => {
    event.preventDefault();
    clearErrors(form, error, ok);
    if (saved) fill();
  });

  return { refresh };
}

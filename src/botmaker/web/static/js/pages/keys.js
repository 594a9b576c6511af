// Provider keys in the keyring: list (last 4 only) with usage, add, delete, test. The add
// form is checked as it is filled (POST /api/keys/validate: the API's own rules), and a
// key, new or stored, can be tried once against its provider through the keyring.

import "../lib/common.js";
import { announce, toast } from "../lib/notify.js";
import { runAction } from "../lib/action.js";
import { api } from "../lib/api.js";
import { $, h } from "../lib/dom.js";
import { confirmDialog } from "../lib/dialog.js";
import { clearErrors, listOf, showApiError } from "../lib/fields.js";
import * as fmt from "../lib/format.js";
import { askKeyring, keyringTrouble } from "../lib/keyring.js";
import { keyTestButton, runKeyTest } from "../lib/keytest.js";
import { LiveCheck } from "../lib/validate.js";

const form = $("#key-form");
let providers = [];

function providerLabel(id) {
  const p = providers.find((x) => x.id === id);
  return p ? p.label : id;
}

/** The key's last 4 characters as the keyring lists them (none for a short key). */
function keyTail(key) {
  return key.last4 ? `…${key.last4}` : "(short key)";
}

function usageCell(u) {
  if (!u) return h("td", { class: "muted" }, "—");
  return h("td", {}, h("span", { class: "mono" }, `${fmt.compact(u.tokens)} tok`), h("br"), h("span", { class: "muted small" }, `${fmt.count(u.requests)} req`));
}

async function remove(key) {
  const dialog = $("#key-delete-dialog");
  $("#key-delete-text").textContent = `${providerLabel(key.provider)} key ${keyTail(key)}${key.label ? ` (${key.label})` : ""}. Bots using it move on to other keys.`;
  const done = await confirmDialog(dialog, {
    submit: $("#key-delete-submit"),
    cancel: $("#key-delete-cancel"),
    error: $("#key-delete-error"),
    action: async () => {
      await api(`/api/keys/${encodeURIComponent(key.id)}`, { method: "DELETE" });
      return true;
    },
  });
  if (done) {
    toast(`Deleted the key ${keyTail(key)}.`, "ok");
    announce("Key deleted");
    load();
  }
}

/** "Test": one call to the provider with the stored key; the answer under the buttons. */
function testButton(key) {
  const button = h("button", { type: "button", class: "btn btn-small", "aria-label": `Test the ${providerLabel(key.provider)} key ${keyTail(key)}` }, "Test");
  button.addEventListener("click", () => {
    const output = button.closest("td").querySelector("[data-test-result]");
    runKeyTest(button, output, `/api/keys/${encodeURIComponent(key.id)}/test`, undefined);
  });
  return button;
}

function render(keys, usage) {
  const body = $("#keys-body");
  body.replaceChildren(
    ...keys.map((key) => {
      const owned = Boolean(key.bot_id);
      const u = usage[key.id] || null;
      return h(
        "tr",
        { "data-key-id": key.id },
        h("td", {}, providerLabel(key.provider)),
        h("td", { class: "mono" }, `${keyTail(key)}`),
        h(
          "td",
          {},
          key.label || (owned ? "" : h("span", { class: "muted" }, "no label")),
          owned ? h("div", { class: "muted small" }, `own key of ${key.bot_name || key.bot_id}`) : null,
          (key.tags || []).length ? h("div", {}, key.tags.map((t) => h("span", { class: "tag" }, t))) : null,
        ),
        usageCell(u && u.today),
        usageCell(u && u.month),
        h(
          "td",
          {},
          h("div", { class: "row row-wrap" }, testButton(key),
            owned
              ? h("span", { class: "muted small" }, "edit the bot to replace")
              : h("button", { type: "button", class: "btn btn-small btn-danger-ghost", "aria-label": `Delete the ${providerLabel(key.provider)} key ${keyTail(key)}`, onclick: () => remove(key) }, "Delete")),
          h("p", { class: "key-test-result", "data-test-result": key.id, role: "status", hidden: true }),
        ),
      );
    }),
  );
  $("#keys-table").hidden = keys.length === 0;
  $("#keys-empty").hidden = keys.length > 0;
}

async function load() {
  const state = $("#keyring-state");
  const keyring = await askKeyring((text) => {
    state.className = "notice notice-error";
    state.textContent = text;
  });
  if (!keyring) return;
  if (!keyring.enabled) {
    state.className = "notice notice-warn";
    state.textContent = "The keyring is off (BOTMAKER_KEYRING=off): each bot holds its own provider key, given when it is created. Turn the keyring on to share keys, meter usage and set budgets.";
    $("#keys-layout").hidden = true;
    return;
  }
  const trouble = keyringTrouble(keyring, "The keyring is locked: its master key (or passphrase) is missing or wrong. Keys cannot be used or added until it is back.");
  if (trouble) {
    state.className = "notice notice-error";
    state.textContent = trouble;
    $("#keys-layout").hidden = true;
    return;
  }
  state.className = "notice notice-ok";
  state.textContent = `The keyring is running${keyring.proxy_url ? ` (bots reach it at ${keyring.proxy_url})` : ""}.`;
  $("#keys-layout").hidden = false;
  try {
    const [keys, usage] = await Promise.all([api("/api/keys"), api("/api/usage").catch(() => ({ keys: {} }))]);
    render(keys.keys, usage.keys || {});
  } catch (err) {
    toast(`Could not list the keys: ${err.message}`, "error");
  }
}

form.addEventListener("submit", async (event) => {
  event.preventDefault();
  clearErrors(form, $("#key-error"));
  if (!form.reportValidity()) return;
  if (await check.refuseIn(form)) return; // the API's words next to the field
  const body = { provider: $("#key-provider").value, key: $("#key-key").value };
  const label = $("#key-label").value.trim();
  if (label) body.label = label;
  const tags = listOf($("#key-tags").value);
  if (tags.length) body.tags = tags;
  await runAction($('button[type="submit"]', form), () => api("/api/keys", { method: "POST", body }), {
    done: ({ key }) => {
      form.reset();
      $("#key-test-result").hidden = true;
      toast(`Added the ${providerLabel(key.provider)} key ${keyTail(key)}.`, "ok");
      announce("Key added");
      load();
    },
    fail: (err) => showApiError(form, err, $("#key-error")),
  });
});

const check = new LiveCheck(form, "/api/keys/validate", () => {
  const body = { provider: $("#key-provider").value };
  if ($("#key-key").value) body.key = $("#key-key").value;
  const label = $("#key-label").value.trim();
  if (label) body.label = label;
  const tags = listOf($("#key-tags").value);
  if (tags.length) body.tags = tags;
  return body;
});
keyTestButton($("#key-test"), $("#key-test-result"), $("#key-key"), () =>
  $("#key-key").value ? { provider: $("#key-provider").value, key: $("#key-key").value } : "Enter the key first.",
);
$("#key-provider").addEventListener("change", () => {
  $("#key-test-result").hidden = true;
});

async function start() {
  try {
    providers = (await api("/api/providers")).providers;
  } catch {
    providers = [];
  }
  $("#key-provider").replaceChildren(...providers.map((p) => h("option", { value: p.id }, p.label)));
  load();
}

start();

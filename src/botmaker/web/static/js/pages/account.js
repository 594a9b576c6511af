// Your account: change your password; your API tokens (make, list, revoke).

import "../lib/common.js";
import { announce, toast } from "../lib/notify.js";
import { api } from "../lib/api.js";
import { $, h } from "../lib/dom.js";
import { clearErrors, showApiError } from "../lib/fields.js";
import * as fmt from "../lib/format.js";
import { createPasskey, passkeysSupported } from "../lib/passkey.js";

const SCOPES = {
  "bots:read": "read bots, status, stats, usage",
  "bots:logs": "read logs",
  "bots:write": "create, change, start, stop, delete bots",
  "bots:access": "gateway token, chat, pairing, logins",
  "keys:read": "list provider keys",
  "keys:write": "add and delete provider keys",
  "users:read": "list users and teams",
  "metrics:read": "scrape Prometheus metrics (GET /metrics)",
  admin: "everything else an admin may do",
};

$("#password-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const form = event.currentTarget;
  clearErrors(form, $("#password-error"));
  try {
    await api("/api/me/password", {
      method: "PUT",
      body: { current_password: $("#current-password").value, new_password: $("#new-password").value },
    });
    toast("Password changed.", "ok");
    announce("Password changed");
    window.location.assign("/");
  } catch (err) {
    showApiError(form, err, $("#password-error"));
  }
});

async function revoke(token) {
  try {
    await api(`/api/tokens/${encodeURIComponent(token.id)}`, { method: "DELETE" });
    toast(`Revoked ${token.name}.`, "ok");
  } catch (err) {
    toast(err.message, "error");
  }
  loadTokens();
}

async function loadTokens() {
  const { tokens } = await api("/api/tokens");
  $("#tokens-list").replaceChildren(
    ...tokens.map((t) =>
      h(
        "li",
        { "data-token": t.name },
        h("strong", {}, t.name),
        " ",
        h("span", { class: "mono small" }, t.scopes.join(" ")),
        h("div", { class: "muted small" }, t.revoked ? "revoked" : `expires ${t.expires_at ? fmt.when(t.expires_at) : "never"} · last used ${t.last_used_at ? fmt.when(t.last_used_at) : "never"}`),
        t.revoked ? null : h("button", { type: "button", class: "btn btn-small btn-danger-ghost", onclick: () => revoke(t) }, "Revoke"),
      ),
    ),
  );
}

async function setUpTokens() {
  const form = $("#token-form");
  if (!form) return;
  const me = await api("/api/me");
  const mayScopes = new Set();
  const scopeOf = { "bot.read": "bots:read", "bot.logs": "bots:logs", "bot.create": "bots:write", "bot.access": "bots:access", "keys.read": "keys:read", "keys.write": "keys:write", "users.read": "users:read", "users.write": "admin", "metrics.read": "metrics:read" };
  for (const action of me.actions) if (scopeOf[action]) mayScopes.add(scopeOf[action]);
  $("#token-scopes").append(
    ...Object.entries(SCOPES)
      .filter(([scope]) => mayScopes.has(scope))
      .map(([scope, label]) => h("label", { class: "check" }, h("input", { type: "checkbox", name: "scope", value: scope }), ` ${scope} — ${label}`)),
  );
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    clearErrors(form, $("#token-error"));
    const scopes = [...form.querySelectorAll('input[name="scope"]:checked')].map((i) => i.value);
    try {
      const made = await api("/api/tokens", {
        method: "POST",
        body: { name: $("#token-name").value.trim(), scopes, expires_in_days: Number($("#token-days").value) || null },
      });
      const box = $("#token-secret");
      box.replaceChildren("Your token (shown this once): ", h("code", { class: "mono", id: "token-value" }, made.secret));
      box.hidden = false;
      form.reset();
      loadTokens();
    } catch (err) {
      showApiError(form, err, $("#token-error"));
    }
  });
  loadTokens();
}

setUpTokens();

async function loadPasskeys() {
  const { passkeys } = await api("/api/me/passkeys");
  $("#passkeys-list").replaceChildren(
    ...passkeys.map((p) =>
      h(
        "li",
        { "data-passkey": p.name },
        h("strong", {}, p.name),
        h("div", { class: "muted small" }, `added ${fmt.when(p.created_at)} · last used ${p.last_used_at ? fmt.when(p.last_used_at) : "never"}`),
        h(
          "button",
          {
            type: "button",
            class: "btn btn-small btn-danger-ghost",
            onclick: async () => {
              await api(`/api/me/passkeys/${encodeURIComponent(p.id)}`, { method: "DELETE" });
              toast(`Removed the passkey ${p.name}.`, "ok");
              loadPasskeys();
            },
          },
          "Remove",
        ),
      ),
    ),
  );
}

function setUpPasskeys() {
  const form = $("#passkey-form");
  if (!form) return;
  if (!passkeysSupported()) {
    form.replaceChildren(h("p", { class: "muted" }, "This browser cannot make passkeys."));
    return;
  }
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    clearErrors(form, $("#passkey-form-error"));
    try {
      const { handle, options } = await api("/api/me/passkeys/options", { method: "POST" });
      const credential = await createPasskey(options);
      const made = await api("/api/me/passkeys", { method: "POST", body: { name: $("#passkey-name").value.trim(), handle, credential } });
      toast(`Added the passkey ${made.name}.`, "ok");
      announce("Passkey added");
      loadPasskeys();
    } catch (err) {
      const box = $("#passkey-form-error");
      if (err && err.name === "NotAllowedError") {
        box.textContent = "The passkey was not made.";
        box.hidden = false;
      } else showApiError(form, err, box);
    }
  });
  loadPasskeys();
}

setUpPasskeys();

function budgetText(budget) {
  if (!budget) return "none";
  const parts = Object.entries(budget)
    .filter(([, v]) => v !== null && v !== undefined)
    .map(([k, v]) => `${k.replaceAll("_", " ")} ${fmt.count(v)}`);
  return parts.length ? parts.join(", ") : "none";
}

async function loadTeamUsage() {
  const card = $("#teams-usage");
  if (!card) return;
  let usage;
  try {
    usage = await api("/api/usage");
  } catch {
    return; // no keyring, no usage to show
  }
  const teams = Object.entries(usage.teams || {});
  if (!teams.length) return;
  const use = (u) => (u && u.requests !== undefined ? `${fmt.count(u.requests)} req · ${fmt.compact(u.tokens || 0)} tok` : "—");
  $("#teams-usage-body").replaceChildren(
    ...teams.map(([id, t]) => h("tr", { "data-team": t.name }, h("td", {}, t.name), h("td", {}, String(t.bots)), h("td", {}, use(t.today)), h("td", {}, use(t.month)), h("td", { class: "small" }, budgetText(t.budget)))),
  );
  card.hidden = false;
}

loadTeamUsage();

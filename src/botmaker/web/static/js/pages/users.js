// Users and teams (admins): add, change role, disable/enable, reset a password; teams.

import "../lib/common.js";
import { announce, toast } from "../lib/notify.js";
import { api } from "../lib/api.js";
import { $, h } from "../lib/dom.js";
import { clearErrors, listOf, showApiError } from "../lib/fields.js";
import * as fmt from "../lib/format.js";

const ROLES = ["admin", "operator", "viewer"];
let users = [];

function nameOf(id) {
  const user = users.find((u) => u.id === id);
  return user ? user.name : id;
}

function showPassword(user, password) {
  const box = $("#users-password");
  box.replaceChildren(
    `Password of ${user.name} (shown this once; they choose their own at first sign-in): `,
    h("code", { class: "mono", id: "generated-password" }, password),
  );
  box.hidden = false;
}

async function change(user, patch, done) {
  try {
    await api(`/api/users/${encodeURIComponent(user.id)}`, { method: "PATCH", body: patch });
    toast(done, "ok");
    announce(done);
  } catch (err) {
    toast(err.message, "error");
  }
  load();
}

async function reset(user) {
  try {
    const answer = await api(`/api/users/${encodeURIComponent(user.id)}/reset`, { method: "POST" });
    showPassword(user, answer.password);
    announce(`New password for ${user.name}`);
  } catch (err) {
    toast(err.message, "error");
  }
  load();
}

function row(user) {
  const role = h(
    "select",
    { "aria-label": `Role of ${user.name}`, onchange: (e) => change(user, { role: e.target.value }, `${user.name} is now ${e.target.value}.`) },
    ...ROLES.map((r) => h("option", { value: r, selected: r === user.role ? "" : null }, r)),
  );
  return h(
    "tr",
    { "data-user": user.name },
    h("td", {}, user.name, user.email ? h("div", { class: "muted small" }, user.email) : null, user.disabled ? h("span", { class: "tag" }, "disabled") : null),
    h("td", {}, role),
    h("td", {}, user.teams.map((id) => h("span", { class: "tag" }, teamName(id)))),
    h("td", { class: "muted small" }, user.last_login_at ? fmt.when(user.last_login_at) : "never"),
    h(
      "td",
      { class: "row" },
      h("button", { type: "button", class: "btn btn-small", onclick: () => reset(user) }, "Reset password"),
      user.disabled
        ? h("button", { type: "button", class: "btn btn-small", onclick: () => change(user, { disabled: false }, `${user.name} is enabled.`) }, "Enable")
        : h("button", { type: "button", class: "btn btn-small btn-danger-ghost", onclick: () => change(user, { disabled: true }, `${user.name} is disabled.`) }, "Disable"),
    ),
  );
}

let teams = [];
function teamName(id) {
  const team = teams.find((t) => t.id === id);
  return team ? team.name : id;
}

async function load() {
  const [u, t] = await Promise.all([api("/api/users"), api("/api/teams")]);
  users = u.users;
  teams = t.teams;
  $("#users-body").replaceChildren(...users.map(row));
  $("#teams-list").replaceChildren(
    ...teams.map((team) =>
      h("li", { "data-team": team.name }, h("strong", {}, team.name), " — ", team.members.length ? team.members.map(nameOf).join(", ") : h("span", { class: "muted" }, "no members")),
    ),
  );
}

$("#user-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const form = event.currentTarget;
  clearErrors(form, $("#user-error"));
  const body = { name: $("#user-name").value.trim(), role: $("#user-role").value };
  const email = $("#user-email").value.trim();
  if (email) body.email = email;
  try {
    const answer = await api("/api/users", { method: "POST", body });
    showPassword(answer.user, answer.password);
    form.reset();
    toast(`Added ${answer.user.name}.`, "ok");
    load();
  } catch (err) {
    showApiError(form, err, $("#user-error"));
  }
});

$("#team-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const form = event.currentTarget;
  clearErrors(form, $("#team-error"));
  try {
    await api("/api/teams", { method: "POST", body: { name: $("#team-name").value.trim(), members: listOf($("#team-members").value) } });
    form.reset();
    toast("Team added.", "ok");
    load();
  } catch (err) {
    showApiError(form, err, $("#team-error"));
  }
});

load();

// The audit log (admins): newest first, filtered by user, exported as JSON lines.

import "../lib/common.js";
import { api } from "../lib/api.js";
import { $, h } from "../lib/dom.js";
import * as fmt from "../lib/format.js";

const select = $("#audit-user");

function detail(value) {
  if (!value || typeof value !== "object") return "";
  return Object.entries(value)
    .map(([k, v]) => `${k}=${typeof v === "object" ? JSON.stringify(v) : v}`)
    .join(" ");
}

async function load() {
  const user = select.value;
  const query = user ? `?user=${encodeURIComponent(user)}&limit=200` : "?limit=200";
  const { entries } = await api(`/api/audit${query}`);
  $("#audit-body").replaceChildren(
    ...entries.map((e) =>
      h(
        "tr",
        { "data-action": e.action },
        h("td", { class: "small" }, fmt.when(e.at)),
        h("td", {}, e.actor),
        h("td", { class: "mono small" }, e.action),
        h("td", {}, e.target),
        h("td", { class: "mono small" }, detail(e.detail)),
      ),
    ),
  );
  $("#audit-empty").hidden = entries.length > 0;
  $("#audit-export").href = `/api/audit/export${user ? `?user=${encodeURIComponent(user)}` : ""}`;
}

async function start() {
  const { users } = await api("/api/users");
  select.append(...users.map((u) => h("option", { value: u.id }, u.name)));
  const wanted = new URLSearchParams(window.location.search).get("user");
  if (wanted) select.value = (users.find((u) => u.name === wanted || u.id === wanted) || {}).id || "";
  select.addEventListener("change", load);
  load();
}

start();

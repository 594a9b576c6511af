// The create wizard: template → persona → model → channel → review → create, then the
// image pull and the bot's first logs. Every rule beyond `required` is the API's: its 422
// error names the field, and the message is shown next to that field. Each field is also
// checked as it is left (POST /api/bots/validate: the create's own rules, nothing made),
// Next is refused on a step that holds a refused field, the name follows the persona's
// name until the user types one, and the draft (never a secret) survives a reload.

import "../lib/common.js";
import { announce } from "../lib/notify.js";
import { runAction } from "../lib/action.js";
import { api, ApiError } from "../lib/api.js";
import { $, $$, h } from "../lib/dom.js";
import { clearErrors, inputFor, listOf, showApiError, showFieldError } from "../lib/fields.js";
import { Draft } from "../lib/draft.js";
import { keyTestButton } from "../lib/keytest.js";
import { LiveCheck } from "../lib/validate.js";
import * as fmt from "../lib/format.js";
import { keyringTrouble } from "../lib/keyring.js";
import { mountChannelLogins } from "../lib/channellogin.js";
import { EgressFields, MODE_LABELS } from "../lib/egress.js";
import { LogViewer } from "../lib/logviewer.js";
import { engineBlocks, engineNotice } from "../lib/enginenotice.js";
import { engineError } from "../lib/engine.js";
import { renderMarkdown } from "../lib/markdown.js";
import * as st from "../lib/status.js";

const form = $("#wizard");
const sections = $$("section.step", form);
const stepButtons = $$("#steps button");
const next = $("#wizard-next");
const back = $("#wizard-back");
const engineWarning = $("#wizard-engine");
engineNotice(engineWarning); // from step 1 on, not only when Create fails

const f = {
  name: $("#f-name"),
  personaName: $("#f-persona-name"),
  emoji: $("#f-persona-emoji"),
  soul: $("#f-soul"),
  userNotes: $("#f-user-notes"),
  provider: $("#f-provider"),
  model: $("#f-model"),
  baseUrl: $("#f-base-url"),
  baseUrlPrivate: $("#f-base-url-private"),
  apiKey: $("#f-api-key"),
  fallbacks: $("#f-fallbacks"),
  heartbeat: $("#f-heartbeat"),
  channel: $("#f-channel"),
  dmPolicy: $("#f-dm-policy"),
  allowFrom: $("#f-allow-from"),
};

const egress = new EgressFields(form, "f");
const data = { templates: [], providers: [], channels: [], keyring: { enabled: false }, keys: [] };
let step = 0;
let reached = 0;
let filled = { personaName: "", emoji: "", soul: "" }; // what the template put in
let nameTyped = false; // the user typed a name: no more suggestions from the persona name
let check = null; // the live check (LiveCheck), once the catalogs are in
let defaultModel = "";

const CATEGORY_LABELS = { hosted: "Hosted", aggregator: "Aggregators", local: "Local", custom: "Custom" };
const POLICY_HELP = {
  pairing: "Unknown senders get a pairing code; you approve them once.",
  allowlist: "Only the senders in the allow list below.",
  open: "Anyone who finds the bot.",
  disabled: "No direct messages at all.",
};

const provider = () => data.providers.find((p) => p.id === f.provider.value);
const channel = () => data.channels.find((c) => c.id === f.channel.value);
const template = () => {
  const checked = $('input[name="template"]:checked', form);
  return checked ? data.templates.find((t) => t.id === checked.value) || null : null;
};

// -- steps ------------------------------------------------------------------------------

function goTo(index, { focus = true } = {}) {
  step = index;
  reached = Math.max(reached, index);
  sections.forEach((section, i) => {
    section.hidden = i !== index;
  });
  stepButtons.forEach((button, i) => {
    button.disabled = i > reached;
    button.classList.toggle("done", i < reached && i !== index);
    if (i === index) button.setAttribute("aria-current", "step");
    else button.removeAttribute("aria-current");
  });
  back.disabled = index === 0;
  next.textContent = index === sections.length - 1 ? "Create bot" : "Next";
  if (index === sections.length - 1) renderReview();
  if (focus) {
    const heading = $("h2", sections[index]);
    heading.setAttribute("tabindex", "-1");
    heading.focus();
  }
  announce(`Step ${index + 1} of ${sections.length}: ${$("h2", sections[index]).textContent}`);
}

function stepValid(index) {
  const inputs = $$("input, select, textarea", sections[index]).filter((i) => !i.closest("[hidden]"));
  for (const input of inputs) {
    if (!input.checkValidity()) {
      input.reportValidity();
      return false;
    }
  }
  return true;
}

let going = false; // a Next waiting for its check

form.addEventListener("submit", async (event) => {
  event.preventDefault();
  if (going || !stepValid(step)) return;
  if (step < sections.length - 1) {
    going = true;
    try {
      const at = step;
      if (check && (await check.refuseIn(sections[at]))) return; // its messages are shown
      if (step === at) goTo(step + 1);
      if (unsaved) saveDraft(); // the step the user is on, for a reload
    } finally {
      going = false;
    }
  } else if (!engineBlocks(engineWarning)) create();
});
back.addEventListener("click", () => goTo(Math.max(0, step - 1)));
stepButtons.forEach((button, i) => button.addEventListener("click", () => goTo(i)));

// -- template and persona ---------------------------------------------------------------------

function renderTemplates() {
  const list = $("#template-list");
  const option = (value, emoji, title, description, checked) =>
    h(
      "label",
      { class: "template-option" },
      h("input", { type: "radio", name: "template", value, checked }),
      h("span", { class: "persona-emoji", "aria-hidden": "true" }, emoji),
      h("span", {}, h("strong", {}, title), h("span", { class: "muted" }, description)),
    );
  data.templates.forEach((t, i) => {
    list.append(option(t.id, t.emoji, `${t.label} · ${t.persona_name}`, t.description, i === 0));
  });
  list.append(option("", "✎", "Blank", "Write the persona yourself.", data.templates.length === 0));
  list.addEventListener("change", () => applyTemplate(template()));
  applyTemplate(template());
}

function applyTemplate(t) {
  // The bot name is not set here: it follows the persona name (suggested by the API).
  const values = t
    ? { personaName: t.persona_name, emoji: t.emoji, soul: t.soul }
    : { personaName: "", emoji: "", soul: "" };
  const inputs = { personaName: f.personaName, emoji: f.emoji, soul: f.soul };
  for (const [key, input] of Object.entries(inputs)) {
    if (input.value === "" || input.value === filled[key]) input.value = values[key];
  }
  filled = values;
  updatePreview();
  if (check) check.schedule(0);
}

function updatePreview() {
  $("#preview-emoji").textContent = f.emoji.value || "·";
  $("#preview-name").textContent = f.personaName.value || f.name.value || "(no name)";
  renderMarkdown(f.soul.value, $("#preview-soul"));
}

for (const input of [f.personaName, f.emoji, f.soul, f.name]) input.addEventListener("input", updatePreview);

// -- model and keys ---------------------------------------------------------------------------

function renderProviders() {
  const groups = new Map();
  for (const p of data.providers) {
    if (!groups.has(p.category)) groups.set(p.category, []);
    groups.get(p.category).push(p);
  }
  for (const [category, providers] of groups) {
    const group = h("optgroup", { label: CATEGORY_LABELS[category] || category });
    for (const p of providers) group.append(h("option", { value: p.id }, p.label));
    f.provider.append(group);
  }
  f.provider.value = data.providers.some((p) => p.id === "openai") ? "openai" : (data.providers[0] || {}).id;
  f.provider.addEventListener("change", onProvider);
  onProvider();
}

function onProvider() {
  const p = provider();
  if (!p) return;
  $("#model-options").replaceChildren(...p.models.map((m) => h("option", { value: m })));
  if (f.model.value === "" || f.model.value === defaultModel) f.model.value = p.default_model || "";
  defaultModel = p.default_model || "";
  f.model.placeholder = p.models.length ? p.default_model : "the model's id at this endpoint";
  const showBase = p.base_url_required || p.category === "local" || p.category === "custom";
  $("#base-url-group").hidden = !showBase;
  f.baseUrl.required = p.base_url_required;
  f.baseUrl.placeholder = p.base_url || "https://llm.example.com/v1";
  const docs = p.docs ? ` Docs: docs.openclaw.ai${p.docs}` : "";
  $("#provider-help").textContent = `${p.label}: OpenClaw API ${p.api}${p.base_url ? `, ${p.base_url}` : ""}.${docs}`;
  updateKeyField();
}

function sharedKeys(providerId) {
  return data.keys.filter((k) => k.provider === providerId && !k.bot_id && (!k.tags || k.tags.length === 0));
}

function updateKeyField() {
  const p = provider();
  if (!p) return;
  const notice = $("#keyring-notice");
  const add = $("#keyring-add");
  const keyring = data.keyring;
  const shared = keyring.enabled ? sharedKeys(p.id) : [];
  let required = p.key_required;
  let help = p.key_required ? "Required by this provider." : "Optional for this provider.";
  notice.hidden = true;
  add.hidden = true;
  notice.className = "notice";
  if (keyring.enabled) {
    help = "Goes into the keyring as this bot's own key; the bot itself gets only a keyring token.";
    const trouble = keyringTrouble(keyring, "The keyring is locked (its master key is missing); bots cannot reach their providers until it is back.");
    if (trouble) {
      notice.className = "notice notice-error";
      notice.textContent = trouble;
      notice.hidden = false;
    } else if (shared.length) {
      required = false;
      notice.className = "notice notice-ok";
      notice.textContent = `The keyring has a shared ${p.label} key (…${shared[0].last4}${shared[0].label ? `, ${shared[0].label}` : ""}). Leave the API key empty to use it.`;
      notice.hidden = false;
    } else if (p.key_required) {
      notice.className = "notice notice-warn";
      notice.textContent = `The keyring has no shared key for ${p.label}. Add one here (every ${p.label} bot can use it), or give this bot its own key below.`;
      notice.hidden = false;
      add.hidden = false;
    }
  }
  f.apiKey.required = required;
  $("#f-api-key-label").textContent = required ? "API key" : "API key (optional)";
  $("#f-api-key-help").textContent = help;
}

$("#k-add").addEventListener("click", async () => {
  const p = provider();
  const key = $("#k-key");
  const error = $("#k-error");
  clearErrors($("#keyring-add"), error);
  if (!key.value) {
    key.setCustomValidity("Enter the key");
    key.reportValidity();
    key.setCustomValidity("");
    return;
  }
  const body = { provider: p.id, key: key.value };
  if ($("#k-label").value.trim()) body.label = $("#k-label").value.trim();
  const add = async () => {
    await api("/api/keys", { method: "POST", body });
    key.value = "";
    data.keys = (await api("/api/keys")).keys;
  };
  await runAction($("#k-add"), add, {
    done: () => {
      updateKeyField();
      announce(`Shared ${p.label} key added`);
    },
    fail: (err) => showApiError($("#keyring-add"), err, error),
  });
});

// -- channel ------------------------------------------------------------------------------------

function renderChannels() {
  for (const c of data.channels) f.channel.append(h("option", { value: c.id }, c.label));
  f.channel.value = data.channels.some((c) => c.id === "telegram") ? "telegram" : (data.channels[0] || {}).id;
  f.channel.addEventListener("change", onChannel);
  f.dmPolicy.addEventListener("change", onPolicy);
  onChannel();
}

function credentialField(credential) {
  const id = `cred-${credential.name}`;
  const label = credential.label + (credential.required ? "" : " (optional)");
  let input;
  if (credential.choices) {
    input = h("select", { id, name: credential.field, "data-field": credential.field, required: credential.required },
      credential.required ? null : h("option", { value: "" }, "—"),
      credential.choices.map((choice) => h("option", { value: choice }, choice)));
  } else {
    input = h("input", {
      id,
      name: credential.field,
      "data-field": credential.field,
      type: credential.secret ? "password" : "text",
      autocomplete: credential.secret ? "new-password" : "off",
      spellcheck: "false",
      autocapitalize: "off",
      required: credential.required,
    });
  }
  const help = credential.secret ? h("p", { class: "help" }, "Secret: written to a file only this bot's container can read.") : null;
  return h("div", { class: "field" }, h("label", { for: id }, label), input, help);
}

function onChannel() {
  const c = channel();
  if (!c) return;
  $("#channel-fields").replaceChildren(...c.credentials.map(credentialField));
  const notes = [];
  if (c.plugin) notes.push(`Needs the OpenClaw plugin ${c.plugin} in the bot image.`);
  if (c.needs_public_url) notes.push("Needs a public webhook URL, which BotMaker does not set up.");
  if (c.web_login || c.cli_login) notes.push("Link the account once the bot runs: its QR code shows here after you create the bot, and on the bot's page.");
  else if (c.interactive_login) notes.push(`Log in afterwards: ${c.login_hint} in the bot's container (its page shows the exact command)`);
  $("#channel-help").textContent = notes.join(" ");
  f.dmPolicy.replaceChildren(...c.dm_policies.map((p) => h("option", { value: p }, p)));
  if (c.dm_policies.includes("pairing")) f.dmPolicy.value = "pairing";
  $("#dm-policy-group").hidden = c.dm_policies.length === 0;
  onPolicy();
}

function onPolicy() {
  const policy = $("#dm-policy-group").hidden ? "" : f.dmPolicy.value;
  $("#dm-policy-help").textContent = POLICY_HELP[policy] || "";
  $("#allow-from-group").hidden = policy !== "allowlist";
}

// -- network access (egress) ---------------------------------------------------------------------

// The allowlist is pre-filled with the hosts the API gives a bot made with these choices
// (GET /api/egress/defaults: the create's own default_hosts), and follows the choices
// until the user edits it.
const defaults = { text: "", asked: 0, timer: 0 };

function egressQuery() {
  const p = provider();
  const c = channel();
  if (!p || !c) return null;
  const query = new URLSearchParams({ provider: p.id, channel: c.id });
  if (!$("#base-url-group").hidden && f.baseUrl.value.trim()) query.set("base_url", f.baseUrl.value.trim());
  if (f.apiKey.value) query.set("own_key", "true");
  for (const credential of c.credentials) {
    if (credential.secret) continue;
    const input = inputFor($("#channel-fields"), credential.field);
    if (input && input.value.trim()) query.append("setting", input.value.trim());
  }
  return query;
}

async function refreshEgressDefaults() {
  const query = egressQuery();
  if (!query) return;
  const asked = ++defaults.asked;
  const note = $("#f-egress-note");
  let answer;
  try {
    answer = await api(`/api/egress/defaults?${query}`);
  } catch (err) {
    if (asked === defaults.asked) note.textContent = `Could not get the default hosts: ${err.message}`;
    return;
  }
  if (asked !== defaults.asked) return; // the choices changed again meanwhile
  const text = answer.hosts.join("\n");
  if (egress.allow.value === defaults.text) egress.allow.value = text;
  defaults.text = text;
  const words = [
    answer.hosts.length === 0
      ? "No default hosts for these choices: list the ones the bot needs."
      : answer.keyring
        ? `The defaults are ${channel().label}'s hosts; model calls go through the keyring.`
        : `The defaults are ${channel().label}'s hosts and ${provider().label}'s API host.`,
  ];
  if (!answer.enforced) words.push("The egress proxy is off on this server (BOTMAKER_EGRESS=off): the policy is kept, but bots connect directly.");
  if (note.textContent !== words.join(" ")) note.textContent = words.join(" "); // said once
}

function egressChoicesChanged() {
  window.clearTimeout(defaults.timer);
  defaults.timer = window.setTimeout(refreshEgressDefaults, 250);
}

egress.onMode = (mode) => {
  $("#f-egress-tools").hidden = mode !== "allowlist";
};
$("#f-egress-defaults").addEventListener("click", () => {
  egress.allow.value = defaults.text;
  egress.allow.dispatchEvent(new Event("input")); // clears an error shown on it
  egress.allow.focus();
  announce("The allowlist is back to the default hosts");
});
f.provider.addEventListener("change", egressChoicesChanged);
f.channel.addEventListener("change", egressChoicesChanged);
for (const input of [f.baseUrl, f.apiKey, $("#channel-fields")]) input.addEventListener("input", egressChoicesChanged);

// -- review and create -----------------------------------------------------------------------

function buildBody() {
  const p = provider();
  const c = channel();
  const body = {
    name: f.name.value.trim(),
    provider: p.id,
    model: f.model.value.trim(),
    channel: c.id,
    persona: {
      name: f.personaName.value.trim(),
      emoji: f.emoji.value.trim(),
      soul: f.soul.value,
      user_notes: f.userNotes.value,
    },
    fallbacks: listOf(f.fallbacks.value),
    heartbeat: f.heartbeat.checked,
    secrets: { channel_credentials: {} },
    channel_settings: {},
  };
  const t = template();
  if (t) body.template = t.id;
  if (!$("#base-url-group").hidden && f.baseUrl.value.trim()) {
    body.base_url = f.baseUrl.value.trim();
    if (f.baseUrlPrivate.checked) body.base_url_private = true;
  }
  if (f.apiKey.value) body.secrets.api_key = f.apiKey.value;
  for (const credential of c.credentials) {
    const input = inputFor($("#channel-fields"), credential.field);
    const value = input ? input.value : "";
    if (!value) continue;
    const [group, ...rest] = credential.field.split(".");
    if (credential.field === "secrets.channel_token") body.secrets.channel_token = value;
    else if (group === "secrets") body.secrets.channel_credentials[rest[1]] = value;
    else body.channel_settings[rest.join(".")] = value.trim();
  }
  if (!$("#dm-policy-group").hidden) {
    body.dm_policy = f.dmPolicy.value;
    if (body.dm_policy === "allowlist") body.allow_from = listOf(f.allowFrom.value, /\n/);
  }
  body.egress = egress.body();
  return body;
}

function renderReview() {
  const body = buildBody();
  const p = provider();
  const c = channel();
  const t = template();
  const shared = data.keyring.enabled && sharedKeys(p.id).length > 0;
  const key = body.secrets.api_key ? "given (hidden)" : shared ? "the keyring's shared key" : "none";
  const given = Object.keys(body.secrets.channel_credentials).length + (body.secrets.channel_token ? 1 : 0);
  const rows = [
    ["Bot name", h("span", { class: "mono" }, body.name || "—")],
    ["Persona", `${body.persona.emoji} ${body.persona.name}`.trim() || "—"],
    ["Template", t ? t.label : "none (blank)"],
    ["Model", h("span", { class: "mono" }, `${p.id}/${body.model}`)],
    ["Fallbacks", body.fallbacks.length ? h("span", { class: "mono" }, body.fallbacks.join(", ")) : "none"],
    ["Base URL", body.base_url ? h("span", { class: "mono" }, body.base_url) : "the provider's"],
    ["API key", key],
    ["Heartbeat", body.heartbeat ? "on" : "off"],
    ["Channel", c.label],
    ["Credentials", `${given} given`],
    ["DM policy", body.dm_policy || "—"],
  ];
  if (body.allow_from) rows.push(["Allow list", body.allow_from.join(", ") || "empty"]);
  rows.push(["Network access", MODE_LABELS[body.egress.mode]]);
  if (body.egress.allow) {
    rows.push(["Allowed hosts", body.egress.allow.length ? h("span", { class: "mono" }, body.egress.allow.join(", ")) : "none"]);
  }
  $("#review").replaceChildren(...rows.flatMap(([k, v]) => [h("dt", {}, k), h("dd", {}, v)]));
}

function showCreateError(err) {
  const input = err.field ? showFieldError(form, err.field, err.message) : null;
  if (input) {
    const section = input.closest("section.step");
    const index = sections.indexOf(section);
    if (index >= 0) goTo(index, { focus: false });
    const hiddenGroup = input.closest("[hidden]");
    if (hiddenGroup) hiddenGroup.hidden = false;
    input.focus();
    return;
  }
  goTo(sections.length - 1, { focus: false });
  const box = $("#create-error");
  box.textContent = err.message;
  box.hidden = false;
  box.focus();
}

function setItem(item, state, detail) {
  const li = $(`#progress-steps [data-item="${item}"]`);
  li.dataset.state = state;
  if (detail !== undefined) {
    const node = $(`#progress-${item}-detail`);
    if (node) node.textContent = detail;
  }
}

const sleep = (ms) => new Promise((resolve) => window.setTimeout(resolve, ms));

async function ensureImage() {
  let image = await api("/api/image");
  $("#progress-image").textContent = image.image;
  if (image.present) {
    setItem("image", "done", "present");
    return;
  }
  setItem("image", "running", "pulling…");
  await api("/api/image/pull", { method: "POST" });
  const bar = $("#progress-image-bar");
  bar.hidden = false;
  for (;;) {
    await sleep(800);
    image = await api("/api/image");
    const pull = image.pull || {};
    if (pull.status === "failed") throw new ApiError(502, null, `the image could not be pulled: ${pull.error || "unknown error"}`);
    if (image.present || pull.status === "done") break;
    if (pull.total_bytes) {
      bar.max = pull.total_bytes;
      bar.value = pull.current_bytes;
      setItem("image", "running", `${fmt.bytes(pull.current_bytes)} of ${fmt.bytes(pull.total_bytes)}`);
    } else setItem("image", "running", pull.message || "pulling…");
  }
  bar.hidden = true;
  setItem("image", "done", "pulled");
}

function toForm() {
  $("#progress").hidden = true;
  form.hidden = false;
  $("#steps").hidden = false;
}

async function create() {
  clearErrors(form);
  $("#create-error").hidden = true;
  const body = buildBody();
  form.hidden = true;
  $("#steps").hidden = true;
  const progress = $("#progress");
  progress.hidden = false;
  $("#progress-error").hidden = true;
  $("#progress-retry").hidden = true;
  $("#progress-open").hidden = true;
  $("#progress-login").hidden = true;
  $("#progress-name").textContent = body.name;
  for (const item of ["image", "create", "logs"]) setItem(item, "", "");
  $("#progress-title").focus();
  let bot;
  let running = "image"; // the item that failed is the one marked failed
  try {
    setItem("image", "running");
    await ensureImage();
    running = "create";
    setItem("create", "running", "validating the configuration and starting the container…");
    bot = await api("/api/bots", { method: "POST", body });
  } catch (err) {
    if (err instanceof ApiError && err.field && inputFor(form, err.field)) {
      toForm();
      showCreateError(err);
      return;
    }
    setItem(running, "failed", "");
    engineError(err); // the engine went down meanwhile: the banner and the notice say so
    const box = $("#progress-error");
    box.textContent = err.message;
    box.hidden = false;
    $("#progress-retry").hidden = false;
    return;
  }
  setItem("create", "done", st.label(bot.status));
  draft.clear(); // made: nothing left to keep or to warn about
  window.clearTimeout(saveTimer);
  unsaved = false;
  announce(`${bot.name} was created and is ${st.label(bot.status)}`);
  const open = $("#progress-open");
  open.href = `/bots/${encodeURIComponent(bot.id)}`;
  open.hidden = false;
  mountChannelLogins($("#progress-login"), bot, data.channels);
  setItem("logs", "running");
  const viewer = new LogViewer($("#progress-logs"), { name: bot.name, label: `Logs of ${bot.name}` });
  const push = viewer.push.bind(viewer);
  let first = true;
  viewer.push = (stream, text) => {
    if (first && stream !== "meta") {
      first = false;
      setItem("logs", "done");
    }
    push(stream, text);
  };
  viewer.connect(`/api/bots/${encodeURIComponent(bot.id)}/logs?tail=200`);
}

$("#progress-retry").addEventListener("click", () => {
  toForm();
  goTo(sections.length - 1);
});
$("#progress-title").setAttribute("tabindex", "-1");

// -- live checks, the suggested name, the key test ---------------------------------------------

/** What the check is asked about: the body as it stands, without a name the user has
 * not typed (then the API suggests one from the persona name). */
function checkBody() {
  const body = buildBody();
  if (!nameTyped) delete body.name;
  return body;
}

function onCheck(result) {
  if (nameTyped) return;
  const suggested = (result.suggestions || {}).name || "";
  if (f.name.value !== suggested) {
    f.name.value = suggested;
    updatePreview();
  }
}

f.name.addEventListener("input", (event) => {
  if (!event.isTrusted) return;
  nameTyped = f.name.value.trim() !== ""; // emptied: follow the persona name again
  if (!nameTyped && check) check.schedule(0);
});

function ownKeyTest() {
  const p = provider();
  if (!f.apiKey.value) return "Enter the key first.";
  const body = { provider: p.id, key: f.apiKey.value };
  if (!$("#base-url-group").hidden && f.baseUrl.value.trim()) {
    body.base_url = f.baseUrl.value.trim();
    if (f.baseUrlPrivate.checked) body.base_url_private = true;
  }
  return body;
}

function sharedKeyTest() {
  const key = $("#k-key");
  return key.value ? { provider: provider().id, key: key.value } : "Enter the key first.";
}

function startChecks() {
  check = new LiveCheck(form, "/api/bots/validate", checkBody, { onResult: onCheck });
  // the shared key to add: the rules of POST /api/keys
  const sharedCheck = new LiveCheck($("#keyring-add"), "/api/keys/validate", () => {
    const body = { provider: provider().id };
    if ($("#k-key").value) body.key = $("#k-key").value;
    return body;
  });
  f.provider.addEventListener("change", () => sharedCheck.schedule(0));
  const testable = data.keyring.enabled && !keyringTrouble(data.keyring, "locked");
  $("#f-api-key-test-row").hidden = !testable;
  $("#k-test").hidden = !testable;
  keyTestButton($("#f-api-key-test"), $("#f-api-key-test-result"), f.apiKey, ownKeyTest);
  keyTestButton($("#k-test"), $("#k-test-result"), $("#k-key"), sharedKeyTest);
  f.provider.addEventListener("change", () => {
    for (const id of ["#f-api-key-test-result", "#k-test-result"]) $(id).hidden = true;
  });
  check.schedule(0); // the first suggestion
}

// -- the draft: kept in this tab across a reload, never a secret ------------------------------

const draft = new Draft("botmaker.wizard.draft", form);
let unsaved = false; // the user changed something the server has not got
let saveTimer = 0;

function saveDraft() {
  window.clearTimeout(saveTimer);
  saveTimer = window.setTimeout(() => draft.save({ step, reached, nameTyped }), 250);
}

function onEdit(event) {
  if (!event.isTrusted || form.dataset.ready !== "true") return;
  unsaved = true;
  saveDraft();
}

form.addEventListener("input", onEdit);
form.addEventListener("change", onEdit);

window.addEventListener("beforeunload", (event) => {
  if (!unsaved) return;
  event.preventDefault();
  event.returnValue = ""; // the browser asks "Leave site? Changes you made may not be saved."
});

function restoreDraft() {
  const saved = draft.load();
  if (!saved) return;
  const values = saved.values;
  // the choices that rebuild other fields first, each followed by what it rebuilds
  draft.apply(values, ["radio:template"]);
  applyTemplate(template());
  draft.apply(values, ["f-provider"]);
  onProvider();
  draft.apply(values, ["f-channel"]);
  onChannel();
  draft.apply(values, ["f-dm-policy"]);
  draft.apply(values); // the rest, channel settings included
  onPolicy();
  updateKeyField();
  const mode = $('input[name="f-egress-mode"]:checked', form);
  if (mode) mode.dispatchEvent(new Event("change", { bubbles: true }));
  nameTyped = Boolean(saved.nameTyped) && f.name.value.trim() !== "";
  updatePreview();
  reached = Math.min(Number(saved.reached) || 0, sections.length - 1);
  unsaved = true;
  $("#draft-note").hidden = false;
  return Math.min(Number(saved.step) || 0, reached);
}

$("#draft-discard").addEventListener("click", () => {
  draft.clear();
  unsaved = false;
  window.location.reload();
});

// -- start --------------------------------------------------------------------------------------

async function load() {
  try {
    const [templates, providers, channels, keyring] = await Promise.all([
      api("/api/templates"),
      api("/api/providers"),
      api("/api/channels"),
      api("/api/keyring"),
    ]);
    data.templates = templates.templates;
    data.providers = providers.providers;
    data.channels = channels.channels;
    data.keyring = keyring;
    if (keyring.enabled && keyring.ok !== false) {
      try {
        data.keys = (await api("/api/keys")).keys;
      } catch {
        data.keys = [];
      }
    }
  } catch (err) {
    const box = $("#wizard-load-error");
    box.textContent = `Could not load the catalogs: ${err.message}`;
    box.hidden = false;
    return;
  }
  renderTemplates();
  renderProviders();
  renderChannels();
  const at = restoreDraft() || 0;
  refreshEgressDefaults();
  goTo(at, { focus: false });
  startChecks();
  form.dataset.ready = "true";
}

load();

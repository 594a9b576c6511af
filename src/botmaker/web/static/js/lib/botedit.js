// The bot page's settings beyond persona and model — provider (another one takes the
// Model field's model along), base URL and key, the channel's settings and credentials,
// resource limits, budget — with a live preview of
// what Apply changes (POST /api/bots/{bot}/preview: the changed settings, the
// openclaw.json diff, whether the bot restarts); and the Image, Export and openclaw.json
// cards. Secret inputs are write-only: never filled from the server, cleared after each
// apply, and an empty one keeps the current value.

import { api, ApiError, csrfToken } from "./api.js";
import { whileBusy } from "./action.js";
import { announce } from "./notify.js";
import { $, $$, dl, h } from "./dom.js";
import { clearErrors, showApiError, showFieldError } from "./fields.js";

const MIB = 1024 * 1024;
const BUDGET = ["daily_tokens", "monthly_tokens", "daily_requests", "monthly_requests", "requests_per_minute"];
const PREVIEW_DELAY = 400; // ms after the last keystroke

/** 1610612736 -> "1536m", 2147483648 -> "2g" (what the memory field takes back). */
export function sizeText(bytes) {
  if (bytes === null || bytes === undefined) return "";
  if (bytes % (1024 * MIB) === 0) return `${bytes / (1024 * MIB)}g`;
  if (bytes % MIB === 0) return `${bytes / MIB}m`;
  return String(bytes);
}

/** A number field's value for the API: a number when it is one, else the text as typed
 *  (the API refuses it on the field, in its own words); "" is null. */
function numberOrText(text) {
  const value = text.trim();
  if (value === "") return null;
  const number = Number(value);
  return Number.isFinite(number) ? number : value;
}

/** A readable value of a setting in the change list. */
function shown(field, value) {
  if (value === null || value === undefined || value === "") {
    if (field.startsWith("limits.")) return "server default";
    if (field.startsWith("budget.")) return "unlimited";
    return "—";
  }
  if (field === "limits.memory_bytes") return sizeText(value);
  if (Array.isArray(value)) return value.length ? value.join(", ") : "none";
  if (typeof value === "object") return JSON.stringify(value);
  const text = String(value);
  return text.length > 80 ? `${text.slice(0, 77)}…` : text;
}

function diffLine(line) {
  let kind = "";
  if (line.startsWith("+++") || line.startsWith("---")) kind = "diff-file";
  else if (line.startsWith("+")) kind = "diff-add";
  else if (line.startsWith("-")) kind = "diff-del";
  else if (line.startsWith("@@")) kind = "diff-hunk";
  return h("span", { class: `diff-line ${kind}`.trim() }, `${line}\n`);
}

/**
 * The settings of the configuration ``form``. ``basePatch()`` is the page's own part of
 * the edit (persona, model, ...); ``patch()`` adds this module's. Call ``fill(bot)``
 * whenever the bot is (re)loaded.
 */
export function mountBotEdit(form, { base, catalog, basePatch }) {
  const el = {
    providerNote: $("#c-provider-note", form),
    provider: $("#c-provider", form),
    model: $("#c-model", form),
    modelOptions: $("#c-model-options", form),
    baseUrl: $("#c-base-url", form),
    baseUrlPrivate: $("#c-base-url-private", form),
    baseUrlPrivateRow: $("#c-base-url-private-row", form),
    apiKey: $("#c-api-key", form),
    channelNote: $("#c-channel-note", form),
    channelFields: $("#c-channel-fields", form),
    memory: $("#c-memory", form),
    cpus: $("#c-cpus", form),
    pids: $("#c-pids", form),
    budgetGroup: $("#c-budget-group", form),
    review: $("#config-review", form),
    changes: $("#config-changes", form),
    effect: $("#config-effect", form),
    diffBox: $("#config-diff-box", form),
    diffSummary: $("#config-diff-summary", form),
    diff: $("#config-diff", form),
  };
  for (const input of [el.memory, el.cpus, el.pids]) input.placeholder = input.dataset.default || "";
  let initial = {};
  let current = null; // the bot as last filled
  let channel = null; // the catalog entry of the bot's one channel (null: several)
  let timer = 0;
  let asked = 0;

  function settingInputs() {
    return $$("[data-setting]", el.channelFields);
  }

  function secretInputs() {
    return $$("input[data-secret]", form);
  }

  function renderChannel(bot) {
    const channels = (bot.config && bot.config.channels) || [];
    el.channelFields.replaceChildren();
    channel = null;
    if (channels.length !== 1) {
      el.channelNote.textContent = `${channels.map((c) => c.type).join(", ")}: a bot with several channels keeps them as created (create it anew to change them).`;
      return;
    }
    const [entry] = channels;
    channel = catalog.channels.find((c) => c.id === entry.type) || null;
    el.channelNote.textContent = `${channel ? channel.label : entry.type}. Changing the chat channel itself means creating the bot anew.`;
    if (!channel) return;
    const credentials = [...channel.credentials];
    if (channel.id === "telegram") {
      credentials.push({ name: "api_root", label: "Bot API root URL (optional)", secret: false, field: "channel_settings.api_root" });
    }
    for (const credential of credentials) {
      const id = `c-ch-${credential.name}`;
      const help = `${id}-help`;
      const input = h("input", {
        id,
        "data-field": credential.field,
        spellcheck: "false",
        autocapitalize: "off",
        "aria-describedby": credential.secret ? help : null,
      });
      if (credential.secret) {
        input.type = "password";
        input.autocomplete = "new-password";
        input.dataset.secret = credential.field;
      } else {
        input.dataset.setting = credential.name;
        input.value = (entry.settings || {})[credential.name] || "";
      }
      const label = credential.secret ? `New ${credential.label.charAt(0).toLowerCase()}${credential.label.slice(1)}` : credential.label;
      el.channelFields.append(
        h(
          "div",
          { class: "field" },
          h("label", { for: id }, label),
          input,
          credential.secret ? h("p", { class: "help", id: help }, "Write-only: leave empty to keep the current one; it is never shown.") : null,
        ),
      );
    }
  }

  function values() {
    const settings = {};
    for (const input of settingInputs()) settings[input.dataset.setting] = input.value.trim();
    const budget = {};
    for (const input of $$("[data-budget]", el.budgetGroup)) budget[input.dataset.budget] = input.value.trim();
    return {
      provider: el.provider.value,
      baseUrl: el.baseUrl.value.trim(),
      baseUrlPrivate: el.baseUrlPrivate.checked,
      settings: JSON.stringify(settings),
      memory: el.memory.value.trim(),
      cpus: el.cpus.value.trim(),
      pids: el.pids.value.trim(),
      budget: JSON.stringify(budget),
    };
  }

  function fill(bot) {
    const config = bot.config || {};
    el.providerNote.textContent = `${bot.provider}${bot.keyring ? " · its key is in the keyring" : ""}.`;
    const providers = catalog.providers.some((p) => p.id === bot.provider) ? catalog.providers : [{ id: bot.provider, label: bot.provider }, ...catalog.providers];
    el.provider.replaceChildren(...providers.map((p) => h("option", { value: p.id }, p.label)));
    el.provider.value = bot.provider;
    current = bot;
    el.baseUrl.value = config.base_url || "";
    el.baseUrlPrivate.checked = Boolean(config.base_url_private);
    el.baseUrlPrivateRow.hidden = !bot.keyring; // only the keyring connects to it
    renderChannel(bot);
    const limits = config.limits || {};
    el.memory.value = sizeText(limits.memory_bytes);
    el.cpus.value = limits.cpus ?? "";
    el.pids.value = limits.pids ?? "";
    el.budgetGroup.hidden = !bot.keyring;
    const budget = bot.budget || {};
    for (const input of $$("[data-budget]", el.budgetGroup)) input.value = budget[input.dataset.budget] ?? "";
    for (const input of secretInputs()) input.value = "";
    initial = values();
    hideReview();
  }

  function patch() {
    const now = values();
    const out = {};
    if (now.provider !== initial.provider) {
      out.provider = now.provider;
      out.model = el.model.value.trim(); // a new provider needs its model, changed or not
    }
    if (now.baseUrl !== initial.baseUrl && now.baseUrl) out.base_url = now.baseUrl;
    // A new provider starts with a public base URL unless the box says otherwise.
    if (!el.baseUrlPrivateRow.hidden && (now.baseUrlPrivate !== initial.baseUrlPrivate || "provider" in out)) out.base_url_private = now.baseUrlPrivate;
    if (now.settings !== initial.settings) {
      out.channel_settings = Object.fromEntries(Object.entries(JSON.parse(now.settings)).filter(([, v]) => v));
    }
    const limits = {};
    if (now.memory !== initial.memory) limits.memory = now.memory || null;
    if (now.cpus !== initial.cpus) limits.cpus = numberOrText(now.cpus);
    if (now.pids !== initial.pids) limits.pids = numberOrText(now.pids);
    if (Object.keys(limits).length) out.limits = limits;
    if (!el.budgetGroup.hidden && now.budget !== initial.budget) {
      out.budget = Object.fromEntries(Object.entries(JSON.parse(now.budget)).map(([k, v]) => [k, numberOrText(v)]));
    }
    const secrets = {};
    for (const input of secretInputs()) {
      if (!input.value) continue; // empty: keep
      const field = input.dataset.secret || input.dataset.field; // the API key's is bare
      if (field.startsWith("secrets.channel_credentials.")) {
        secrets.channel_credentials = { ...(secrets.channel_credentials || {}), [field.split(".").pop()]: input.value };
      } else secrets[field.slice("secrets.".length)] = input.value;
    }
    if (Object.keys(secrets).length) out.secrets = secrets;
    return out;
  }

  function whole() {
    return { ...basePatch(), ...patch() };
  }

  function hideReview() {
    el.review.hidden = true;
    el.changes.replaceChildren();
  }

  function showReview(preview) {
    const items = preview.changes.map((c) =>
      h("li", { "data-change": c.field }, h("span", { class: "mono" }, c.field), ": ", shown(c.field, c.before), " → ", h("strong", {}, shown(c.field, c.after))),
    );
    for (const name of preview.secrets) items.push(h("li", { "data-change": `secrets.${name}` }, h("span", { class: "mono" }, name), ": replaced (the new value is not shown)"));
    el.changes.replaceChildren(...items);
    el.effect.textContent = preview.effect;
    el.effect.dataset.recreate = String(preview.recreate);
    el.diffBox.hidden = !preview.config_diff;
    el.diffSummary.textContent = preview.config_summary || "";
    el.diff.replaceChildren(...(preview.config_diff || "").split("\n").filter(Boolean).map(diffLine));
    el.review.hidden = false;
  }

  /** Ask the API what the edit would change; its refusal shows on the field. */
  async function refresh() {
    const body = whole();
    const mine = ++asked;
    if (Object.keys(body).length === 0) {
      hideReview();
      return;
    }
    let preview;
    try {
      preview = await api(`${base}/preview`, { method: "POST", body });
    } catch (err) {
      if (mine !== asked) return;
      hideReview();
      if (err instanceof ApiError && err.field) {
        clearErrors(form);
        showFieldError(form, err.field, err.message);
      }
      return;
    }
    if (mine !== asked) return;
    clearErrors(form);
    showReview(preview);
  }

  function schedule() {
    window.clearTimeout(timer);
    timer = window.setTimeout(refresh, PREVIEW_DELAY);
  }

  /** Another provider: its models to choose from, and its default model unless one of
   *  its own is already typed in. */
  function providerChanged() {
    const provider = catalog.providers.find((p) => p.id === el.provider.value);
    const models = provider ? provider.models : [];
    el.modelOptions.replaceChildren(...models.map((m) => h("option", { value: m })));
    const back = current && el.provider.value === current.provider;
    if (back) el.model.value = current.model;
    else if (provider && provider.default_model && !models.includes(el.model.value.trim())) el.model.value = provider.default_model;
  }

  el.provider.addEventListener("change", providerChanged);
  form.addEventListener("input", schedule);
  form.addEventListener("change", schedule);

  return {
    fill,
    patch,
    refresh,
    /** A new edit is on its way: no preview of the old one is to come. */
    cancel() {
      window.clearTimeout(timer);
      asked += 1;
    },
  };
}

// -- image ------------------------------------------------------------------------------

const OUTCOME = {
  upgraded: ["notice-ok", "Upgraded"],
  rolled_back: ["notice-warn", "Rolled back to the previous image"],
  refused: ["notice-error", "Refused before the bot was touched"],
  failed: ["notice-error", "Failed"],
};

/** The Image card: what the bot runs, what new bots get, and an upgrade with its outcome. */
export function mountImage(card, { base, canEdit, onChange }) {
  const form = $("#image-form", card);
  const input = $("#image-ref", card);
  const result = $("#image-result", card);
  const error = $("#image-error", card);
  form.hidden = !canEdit;

  async function fill(bot) {
    $("#image-now", card).replaceWith(
      Object.assign(dl([["Runs", bot.image], ["Digest", bot.image_digest || "— (recorded at its first upgrade)"]]), { id: "image-now" }),
    );
    let latest = null;
    try {
      latest = await api("/api/image");
    } catch {
      latest = null;
    }
    const offer = $("#image-offer", card);
    if (latest && latest.image !== bot.image) {
      offer.textContent = `New bots get ${latest.image}${latest.present ? "" : " (not pulled yet)"}: an upgrade is available.`;
      offer.dataset.upgrade = latest.image;
      if (!input.value || input.value === bot.image) input.value = latest.image;
    } else {
      offer.textContent = latest ? "This bot runs the image new bots get." : "";
      delete offer.dataset.upgrade;
      if (!input.value) input.value = bot.image;
    }
  }

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    clearErrors(form, error, result);
    if (!form.reportValidity()) return;
    const button = $("#image-upgrade", card);
    const started = Date.now();
    const tick = () => {
      const seconds = Math.round((Date.now() - started) / 1000);
      result.className = "notice";
      result.textContent = `Upgrading to ${input.value.trim()}: pulling, checking the configuration on a copy, recreating, waiting until healthy… ${seconds} s`;
      result.hidden = false;
    };
    tick();
    const clock = window.setInterval(tick, 1000);
    try {
      const outcome = await whileBusy(button, () => api(`${base}/image`, { method: "POST", body: { image: input.value.trim() } }), "Upgrading…");
      const [kind, words] = OUTCOME[outcome.status] || ["notice", outcome.status];
      result.className = `notice ${kind}`;
      result.textContent = `${words}: ${outcome.detail || outcome.image}`;
      result.dataset.status = outcome.status;
      announce(`${words}`);
    } catch (err) {
      result.hidden = true;
      showApiError(form, err, error);
    } finally {
      window.clearInterval(clock);
      onChange();
    }
  });

  return { fill };
}

// -- export -----------------------------------------------------------------------------

function fileName(response, fallback) {
  const header = response.headers.get("Content-Disposition") || "";
  const match = /filename\*?=(?:UTF-8'')?"?([^";]+)"?/i.exec(header);
  return match ? decodeURIComponent(match[1]) : fallback;
}

/** The Export card: POST /api/bots/export, saved as a file by the browser. */
export function mountExport(card, { botId, name }) {
  const form = $("#export-form", card);
  const error = $("#export-error", card);
  const ok = $("#export-ok", card);
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    clearErrors(form, error, ok);
    const passphrase = $("#export-passphrase", card).value;
    const body = passphrase ? { bot: botId, passphrase } : { bot: botId };
    await whileBusy($("#export-download", card), async () => {
      let response;
      try {
        response = await fetch("/api/bots/export", {
          method: "POST",
          headers: { "Content-Type": "application/json", "X-CSRF-Token": csrfToken, Accept: "application/gzip, application/json" },
          body: JSON.stringify(body),
          credentials: "same-origin",
          cache: "no-store",
        });
      } catch {
        showApiError(form, new ApiError(0, null, "BotMaker does not answer (network error)"), error);
        return;
      }
      if (!response.ok) {
        let data = null;
        try {
          data = await response.json();
        } catch {
          data = null;
        }
        showApiError(form, new ApiError(response.status, data), error);
        return;
      }
      const blob = await response.blob();
      const url = URL.createObjectURL(blob);
      const link = h("a", { href: url, download: fileName(response, `${name}.tar.gz`) });
      document.body.append(link);
      link.click();
      link.remove();
      window.setTimeout(() => URL.revokeObjectURL(url), 10_000);
      $("#export-passphrase", card).value = "";
      ok.textContent = passphrase ? "Exported with its secrets, sealed with your passphrase." : "Exported without secrets.";
      ok.hidden = false;
    }, "Exporting…");
  });
}

// -- openclaw.json ----------------------------------------------------------------------

/** The collapsible openclaw.json card: fetched when opened (and again after an edit). */
export function mountRenderedConfig(card, { base }) {
  const box = $("#rendered-box", card);
  const pre = $("#rendered-json", card);
  const note = $("#rendered-note", card);
  const intro = note.textContent;

  async function load() {
    if (!box.open) return;
    pre.setAttribute("aria-busy", "true");
    try {
      const data = await api(`${base}/openclaw-config`);
      pre.textContent = data.config === null ? data.text : JSON.stringify(data.config, null, 2);
      note.textContent = `${intro} ${data.path} · ${data.secret_refs.length} SecretRef${data.secret_refs.length === 1 ? "" : "s"}.`;
    } catch (err) {
      pre.textContent = "";
      note.textContent = err.message;
    } finally {
      pre.removeAttribute("aria-busy");
    }
  }

  box.addEventListener("toggle", load);
  return { refresh: load };
}

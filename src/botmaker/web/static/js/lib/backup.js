// Backup download and bot import (admins): POST /api/backup answers with the archive,
// saved through a temporary object URL; POST /api/bots/import takes an exported bot as a
// multipart upload. The API's refusals show next to the form, naming the field.

import { ApiError, csrfToken, toLogin } from "./api.js";
import { whileBusy } from "./action.js";
import { $, h } from "./dom.js";
import { announce, toast } from "./notify.js";

async function send(path, init) {
  let response;
  try {
    response = await fetch(path, {
      ...init,
      headers: { ...(init.headers || {}), "X-CSRF-Token": csrfToken },
      credentials: "same-origin",
      cache: "no-store",
    });
  } catch {
    throw new ApiError(0, null, "BotMaker does not answer (network error)");
  }
  if (response.status === 401) {
    toLogin();
    throw new ApiError(401, null, "your session ended; log in again");
  }
  if (!response.ok) {
    let body = null;
    try {
      body = await response.json();
    } catch {
      body = null;
    }
    throw new ApiError(response.status, body);
  }
  return response;
}

function fileName(response, fallback) {
  const header = response.headers.get("content-disposition") || "";
  const match = header.match(/filename="?([^";]+)"?/);
  return match ? match[1] : fallback;
}

function showError(box, inputs, err) {
  box.textContent = err.message;
  box.hidden = false;
  for (const [field, input] of Object.entries(inputs)) {
    if (err.field === field) {
      input.setAttribute("aria-invalid", "true");
      input.focus();
    }
  }
}

function clearError(box, inputs) {
  box.hidden = true;
  for (const input of Object.values(inputs)) input.removeAttribute("aria-invalid");
}

/** Wire the panel (if this user has it); ``imported(result)`` after an import. */
export function initBackup({ imported } = {}) {
  const form = $("#backup-form");
  if (!form) return;
  const passphrase = $("#backup-passphrase");
  const backupError = $("#backup-error");
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const inputs = { passphrase };
    clearError(backupError, inputs);
    const button = $("#backup-download");
    try {
      await whileBusy(button, async () => {
        const body = passphrase.value ? { passphrase: passphrase.value } : {};
        const response = await send("/api/backup", {
          method: "POST",
          headers: { "Content-Type": "application/json", Accept: "application/gzip" },
          body: JSON.stringify(body),
        });
        const blob = await response.blob();
        const url = URL.createObjectURL(blob);
        const link = h("a", { href: url, download: fileName(response, "botmaker-backup.tar.gz"), hidden: true });
        document.body.append(link);
        link.click();
        link.remove();
        window.setTimeout(() => URL.revokeObjectURL(url), 10_000);
      }, "Preparing…");
      passphrase.value = "";
      toast("Backup downloaded.", "ok");
    } catch (err) {
      showError(backupError, inputs, err);
      toast(`Backup: ${err.message}`, "error");
    }
  });

  const importForm = $("#import-form");
  const file = $("#import-file");
  const name = $("#import-name");
  const secret = $("#import-passphrase");
  const importError = $("#import-error");
  importForm.addEventListener("submit", async (event) => {
    event.preventDefault();
    const inputs = { file, name, passphrase: secret };
    clearError(importError, inputs);
    if (!file.files.length) {
      showError(importError, inputs, new ApiError(422, { error: { message: "Choose the exported bot's file.", field: "file" } }));
      return;
    }
    const data = new FormData();
    data.append("file", file.files[0]);
    if (name.value.trim()) data.append("name", name.value.trim());
    if (secret.value) data.append("passphrase", secret.value);
    try {
      const result = await whileBusy($("#import-submit"), async () => {
        const response = await send("/api/bots/import", { method: "POST", headers: { Accept: "application/json" }, body: data });
        return response.json();
      }, "Importing…");
      importForm.reset();
      const text = `Imported ${result.name}${result.started ? "" : " (not started: the archive held no secrets)"}.`;
      toast(text, "ok");
      announce(text);
      if (imported) imported(result);
    } catch (err) {
      showError(importError, inputs, err);
      toast(`Import: ${err.message}`, "error");
    }
  });
}

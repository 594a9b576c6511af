// The login page: the form posts without JavaScript; a passkey needs it.
import "../lib/common.js";
import { passkeysSupported, usePasskey } from "../lib/passkey.js";

const button = document.getElementById("passkey-login");
const error = document.getElementById("passkey-error");

async function post(path, body) {
  const response = await fetch(path, {
    method: "POST",
    headers: { "Content-Type": "application/json", Accept: "application/json" },
    body: body === undefined ? undefined : JSON.stringify(body),
    credentials: "same-origin",
  });
  const data = await response.json().catch(() => null);
  if (!response.ok) throw new Error((data && data.error && data.error.message) || `the server answered ${response.status}`);
  return data;
}

if (button && passkeysSupported()) {
  button.hidden = false;
  button.addEventListener("click", async () => {
    error.hidden = true;
    button.disabled = true;
    try {
      const { handle, options } = await post("/api/login/passkey/options");
      const credential = await usePasskey(options);
      await post("/api/login/passkey", { handle, credential });
      const next = new URLSearchParams(window.location.search).get("next");
      window.location.assign(next && next.startsWith("/") && !next.startsWith("//") ? next : "/");
    } catch (err) {
      error.textContent = err && err.name === "NotAllowedError" ? "The passkey was not used." : String(err.message || err);
      error.hidden = false;
      button.disabled = false;
    }
  });
}

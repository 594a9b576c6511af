// The keyring's state (GET /api/keyring) for the pages that explain it to the user.

import { api } from "./api.js";

/** The keyring's state; null, after ``tell("Could not ask the keyring: …")``, if unknown. */
export async function askKeyring(tell) {
  try {
    return await api("/api/keyring");
  } catch (err) {
    tell(`Could not ask the keyring: ${err.message}`);
    return null;
  }
}

/**
 * Why the keyring cannot serve now, or "" when it can. ``lockedText``: the page's own
 * words for a locked keyring (what it means there).
 */
export function keyringTrouble(keyring, lockedText) {
  if (keyring.locked) return lockedText;
  if (keyring.ok === false) return `The keyring does not answer: ${keyring.message || "unknown error"}.`;
  return "";
}

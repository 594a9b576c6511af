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

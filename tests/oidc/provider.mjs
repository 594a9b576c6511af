// A real OpenID Connect provider for the single sign-on tests: panva's oidc-provider
// (the certified implementation), on loopback, with its development login and consent
// pages. Accounts and the client come from a JSON file named on the command line; the
// signing key is made at start with the kid given, so a restart with another kid is a
// key rotation. Prints one line, {"ready": "<issuer>"}, when it listens.
import { generateKeyPairSync } from "node:crypto";
import { readFileSync } from "node:fs";
import Provider from "oidc-provider";

const config = JSON.parse(readFileSync(process.argv[2], "utf8"));
const { privateKey } = generateKeyPairSync("rsa", { modulusLength: 2048 });
const jwk = { ...privateKey.export({ format: "jwk" }), kid: config.kid, use: "sig", alg: "RS256" };

const accounts = config.accounts;
const provider = new Provider(config.issuer, {
  clients: [
    {
      client_id: config.client_id,
      client_secret: config.client_secret,
      redirect_uris: config.redirect_uris,
      grant_types: ["authorization_code"],
      response_types: ["code"],
      token_endpoint_auth_method: "client_secret_basic",
    },
  ],
  jwks: { keys: [jwk] },
  claims: {
    openid: ["sub"],
    email: ["email", "email_verified"],
    profile: ["preferred_username", "name"],
    groups: ["groups"],
  },
  conformIdTokenClaims: false, // the granted claims in the ID token too
  pkce: { required: () => true },
  findAccount: (ctx, id) => {
    const account = accounts[id];
    if (!account) return undefined;
    return { accountId: id, claims: () => ({ sub: id, ...account }) };
  },
  cookies: { keys: ["a-test-cookie-signing-key"] },
  features: { devInteractions: { enabled: true } },
});
provider.listen(config.port, "127.0.0.1", () => {
  console.log(JSON.stringify({ ready: config.issuer }));
});

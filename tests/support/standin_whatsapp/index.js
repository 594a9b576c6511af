// BotMaker's test stand-in for OpenClaw's WhatsApp plugin (@openclaw/whatsapp), which
// cannot reach WhatsApp's servers from the test machine. It implements the same web
// login a channel plugin offers the gateway (gateway.loginWithQrStart/Wait: a QR code as
// a PNG data URL rendered by OpenClaw's own renderer, "Still waiting…" at a wait's
// timeout, "✅ Linked!" on a scan) and keeps its session where the real plugin does,
// in the state folder (credentials/whatsapp/<account>/creds.json).
// The "phone" is the test: the code's link reference is written to
// credentials/whatsapp/<account>/standin-pending; writing it to standin-scanned scans it.
// No messages flow: the stand-in only links.
import { randomUUID } from "node:crypto";
import fs from "node:fs";
import path from "node:path";
import { renderQrPngDataUrl } from "openclaw/plugin-sdk/media-runtime";

const LOGIN_TTL_MS = 180_000;
const stateDir = process.env.OPENCLAW_STATE_DIR || path.join(process.env.HOME || "/tmp", ".openclaw");
const authDir = (accountId) => path.join(stateDir, "credentials", "whatsapp", accountId || "default");
const logins = new Map();

function linked(accountId) {
  return fs.existsSync(path.join(authDir(accountId), "creds.json"));
}

function sleep(ms) {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

const plugin = {
  id: "whatsapp",
  meta: {
    id: "whatsapp",
    label: "WhatsApp",
    selectionLabel: "WhatsApp (stand-in)",
    docsPath: "/channels/whatsapp",
    blurb: "BotMaker's test stand-in: QR login only.",
  },
  capabilities: { chatTypes: ["direct"] },
  config: {
    listAccountIds: () => ["default"],
    resolveAccount: (cfg, accountId) => ({ accountId: accountId || "default", enabled: true }),
    inspectAccount: (cfg, accountId) => ({ enabled: true, configured: linked(accountId) }),
    isConfigured: (account) => linked(account.accountId),
  },
  gateway: {
    startAccount: async (ctx) => {
      await new Promise((resolve) => ctx.abortSignal.addEventListener("abort", resolve, { once: true }));
    },
    loginWithQrStart: async ({ accountId, force }) => {
      const id = accountId || "default";
      const dir = authDir(id);
      if (linked(id) && !force) return { message: "WhatsApp is already linked. Say “relink” if you want a fresh QR." };
      if (force) fs.rmSync(path.join(dir, "creds.json"), { force: true });
      const existing = logins.get(id);
      if (existing && Date.now() - existing.startedAt < LOGIN_TTL_MS) {
        return { qrDataUrl: existing.qrDataUrl, message: "QR already active. Scan it in WhatsApp → Linked Devices." };
      }
      const ref = randomUUID();
      fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
      fs.writeFileSync(path.join(dir, "standin-pending"), ref, { mode: 0o600 });
      const qrDataUrl = await renderQrPngDataUrl(`standin-whatsapp:${ref}`);
      logins.set(id, { ref, qrDataUrl, startedAt: Date.now() });
      return { qrDataUrl, message: "Scan this QR in WhatsApp → Linked Devices." };
    },
    loginWithQrWait: async ({ accountId, timeoutMs }) => {
      const id = accountId || "default";
      const login = logins.get(id);
      if (!login) return { connected: false, message: "No active WhatsApp login in progress." };
      if (Date.now() - login.startedAt >= LOGIN_TTL_MS) {
        logins.delete(id);
        return { connected: false, message: "The login QR expired. Ask me to generate a new one." };
      }
      const deadline = Date.now() + Math.max(1000, timeoutMs || 120_000);
      const dir = authDir(id);
      const scanned = path.join(dir, "standin-scanned");
      while (Date.now() < deadline) {
        if (fs.existsSync(scanned)) {
          const got = fs.readFileSync(scanned, "utf8").trim();
          fs.rmSync(scanned, { force: true });
          logins.delete(id);
          fs.rmSync(path.join(dir, "standin-pending"), { force: true });
          if (got !== login.ref) return { connected: false, message: "WhatsApp login failed: the phone scanned another code." };
          fs.writeFileSync(path.join(dir, "creds.json"), JSON.stringify({ me: { id: "15550001111:1@s.whatsapp.net" } }), { mode: 0o600 });
          return { connected: true, message: "✅ Linked! WhatsApp is ready." };
        }
        await sleep(200);
      }
      return { connected: false, message: "Still waiting for the QR scan. Let me know when you’ve scanned it." };
    },
  },
};

// The shape OpenClaw's bundled channel entries have (it lives where the image keeps
// bundled plugins, /app/dist/extensions/whatsapp, like the image's Discord and Slack).
export default {
  kind: "bundled-channel-entry",
  id: "whatsapp",
  name: "WhatsApp (BotMaker stand-in)",
  description: "Plays WhatsApp's QR login for BotMaker's tests.",
  configSchema: { type: "object", additionalProperties: false, properties: {} },
  register(api) {
    if (api.registrationMode === "cli-metadata" || api.registrationMode === "tool-discovery") return;
    api.registerChannel({ plugin });
  },
  loadChannelPlugin: () => plugin,
};

// Chat with a bot (POST /api/bots/{bot}/chat): the answer streams in as Server-Sent
// Events read from fetch's body (an EventSource cannot POST). Everything the bot sends
// is shown as text, never as markup. The conversation id lives in this browser
// (localStorage); "New conversation" starts another session with the bot.

import { csrfToken, toLogin } from "./api.js";
import { h } from "./dom.js";

const STORE_PREFIX = "botmaker.chat.";

function newConversationId() {
  const bytes = new Uint8Array(12);
  crypto.getRandomValues(bytes); // crypto.randomUUID needs a secure context; this does not
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

/** Server-Sent Events from a fetch body: calls onEvent(name, data) per event. */
async function readEvents(body, onEvent) {
  const reader = body.getReader();
  const decoder = new TextDecoder();
  let buffer = "";
  let name = "message";
  let data = [];
  const line = (text) => {
    if (text === "") {
      if (data.length) onEvent(name, data.join("\n"));
      name = "message";
      data = [];
      return;
    }
    if (text.startsWith(":")) return; // keep-alive comment
    const colon = text.indexOf(":");
    const field = colon < 0 ? text : text.slice(0, colon);
    let value = colon < 0 ? "" : text.slice(colon + 1);
    if (value.startsWith(" ")) value = value.slice(1);
    if (field === "event") name = value;
    else if (field === "data") data.push(value);
  };
  for (;;) {
    const { value, done } = await reader.read();
    buffer += decoder.decode(value || new Uint8Array(), { stream: !done });
    // A CR at the very end may be the first half of a CRLF: hold it for the next read.
    const held = !done && buffer.endsWith("\r") ? "\r" : "";
    const lines = (held ? buffer.slice(0, -1) : buffer).split(/\r\n|\r|\n/);
    buffer = done ? "" : lines.pop() + held;
    lines.forEach(line);
    if (done) {
      line("");
      return;
    }
  }
}

export class ChatPanel {
  constructor(root, { base, botId }) {
    this.base = base;
    this.key = STORE_PREFIX + botId;
    this.form = root.querySelector("#chat-form");
    this.input = root.querySelector("#chat-input");
    this.send = root.querySelector("#chat-send");
    this.log = root.querySelector("#chat-log");
    this.error = root.querySelector("#chat-error");
    this.status = root.querySelector("#chat-status");
    this.fresh = root.querySelector("#chat-new");
    this.available = false;
    this.busy = null; // the AbortController of the turn under way
    this.form.addEventListener("submit", (event) => {
      event.preventDefault();
      this.submit();
    });
    this.input.addEventListener("keydown", (event) => {
      if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
        event.preventDefault();
        this.submit();
      }
    });
    this.fresh.addEventListener("click", () => this.newConversation());
    this.render();
  }

  get conversation() {
    try {
      return window.localStorage.getItem(this.key);
    } catch {
      return null;
    }
  }

  /** Whether the bot can chat now (running); ``why`` says why not. */
  setAvailable(up, why = "") {
    this.available = up;
    this.why = why;
    this.render();
  }

  render() {
    const busy = this.busy !== null;
    this.input.disabled = !this.available;
    this.send.disabled = !this.available || busy;
    this.fresh.disabled = busy;
    this.status.textContent = this.available ? (busy ? "The bot is answering…" : "") : this.why || "The bot is not running: start it to chat.";
  }

  showError(message) {
    this.error.textContent = message;
    this.error.hidden = !message;
  }

  newConversation() {
    try {
      window.localStorage.setItem(this.key, newConversationId());
    } catch {
      // no storage: the main conversation goes on
    }
    this.log.replaceChildren(h("li", { class: "chat-note muted small" }, "New conversation."));
    this.showError("");
    this.input.focus();
  }

  message(role, text) {
    const body = h("div", { class: "chat-text" }, text);
    const item = h("li", { class: `chat-msg chat-${role}`, "data-role": role }, h("span", { class: "chat-who" }, role === "user" ? "You" : "Bot"), body);
    this.log.append(item);
    this.log.scrollTop = this.log.scrollHeight;
    return { item, body };
  }

  toolLine(answer, tool) {
    const args = tool.arguments ? ` ${tool.arguments}${tool.truncated ? "…" : ""}` : "";
    answer.item.insertBefore(h("div", { class: "chat-tool mono small", "data-tool": tool.name }, `⚙ ${tool.name}${args}`), answer.body);
  }

  async submit() {
    const text = this.input.value;
    if (!this.available || this.busy || !text.trim()) return;
    this.showError("");
    this.message("user", text);
    this.input.value = "";
    const answer = this.message("bot", "");
    answer.item.setAttribute("aria-busy", "true");
    const controller = new AbortController();
    this.busy = controller;
    this.render();
    const body = { message: text };
    const conversation = this.conversation;
    if (conversation) body.conversation = conversation;
    try {
      const response = await fetch(`${this.base}/chat`, {
        method: "POST",
        headers: { Accept: "text/event-stream", "Content-Type": "application/json", "X-CSRF-Token": csrfToken },
        body: JSON.stringify(body),
        credentials: "same-origin",
        cache: "no-store",
        signal: controller.signal,
      });
      if (response.status === 401) {
        toLogin();
        return;
      }
      if (!response.ok) {
        let message = `BotMaker answered ${response.status}`;
        try {
          const data = await response.json();
          if (data && data.error && data.error.message) message = data.error.message;
        } catch {
          // not JSON: the status says it
        }
        throw new Error(message);
      }
      let finished = false;
      await readEvents(response.body, (event, data) => {
        let value;
        try {
          value = JSON.parse(data);
        } catch {
          return;
        }
        if (event === "delta" && typeof value.text === "string") {
          answer.body.append(value.text);
          this.log.scrollTop = this.log.scrollHeight;
        } else if (event === "tool") {
          this.toolLine(answer, value);
        } else if (event === "done") {
          finished = true;
          const usage = value.usage;
          if (usage && Number.isFinite(usage.total_tokens)) {
            answer.item.append(h("div", { class: "chat-usage muted small", "data-usage": "" }, `${usage.prompt_tokens ?? 0} in · ${usage.completion_tokens ?? 0} out tokens`));
          }
        } else if (event === "error") {
          finished = true;
          this.showError(String(value.message || "The bot could not answer."));
        }
      });
      if (!finished) this.showError("The answer stopped before it was complete.");
    } catch (err) {
      if (err && err.name === "AbortError") return;
      this.showError(err instanceof TypeError ? "BotMaker does not answer (network error)." : err.message);
    } finally {
      answer.item.removeAttribute("aria-busy");
      if (!answer.body.textContent) answer.body.append(h("span", { class: "muted" }, "(no answer)"));
      this.busy = null;
      this.render();
    }
  }
}

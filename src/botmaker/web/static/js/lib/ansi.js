// ANSI escape sequences in log lines: SGR colours and styles become spans, everything else
// is dropped. Text only ever becomes text nodes, so a line cannot inject markup.

// CSI (ESC [ ... final), OSC (ESC ] ... BEL or ST), DCS/SOS/PM/APC, and two-byte escapes.
// eslint-disable-next-line no-control-regex
const ESCAPES = /\x1b(?:\[([0-?]*)[ -/]*([@-~])|\][^\x07\x1b]*(?:\x07|\x1b\\)?|[PX^_][^\x1b]*(?:\x1b\\)?|[@-Z\\-_]|$)/g;
// eslint-disable-next-line no-control-regex
const CONTROLS = /[\x00-\x08\x0b-\x1f\x7f]/g;

export function newState() {
  return { bold: false, dim: false, italic: false, underline: false, strike: false, inverse: false, fg: null, bg: null };
}

function reset(state) {
  Object.assign(state, newState());
}

function xterm256(n) {
  if (!Number.isInteger(n) || n < 0 || n > 255) return null;
  if (n < 16) return n;
  if (n >= 232) {
    const level = 8 + (n - 232) * 10;
    return `rgb(${level}, ${level}, ${level})`;
  }
  const i = n - 16;
  const step = (v) => (v === 0 ? 0 : 55 + v * 40);
  return `rgb(${step(Math.floor(i / 36))}, ${step(Math.floor(i / 6) % 6)}, ${step(i % 6)})`;
}

function rgb(r, g, b) {
  const ok = [r, g, b].every((v) => Number.isInteger(v) && v >= 0 && v <= 255);
  return ok ? `rgb(${r}, ${g}, ${b})` : null;
}

export function applySgr(state, params) {
  const codes = params === "" ? [0] : params.split(/[;:]/).map((n) => (n === "" ? 0 : Number.parseInt(n, 10)));
  for (let i = 0; i < codes.length; i += 1) {
    const c = codes[i];
    if (c === 0) reset(state);
    else if (c === 1) state.bold = true;
    else if (c === 2) state.dim = true;
    else if (c === 3) state.italic = true;
    else if (c === 4) state.underline = true;
    else if (c === 7) state.inverse = true;
    else if (c === 9) state.strike = true;
    else if (c === 21 || c === 22) {
      state.bold = false;
      state.dim = false;
    } else if (c === 23) state.italic = false;
    else if (c === 24) state.underline = false;
    else if (c === 27) state.inverse = false;
    else if (c === 29) state.strike = false;
    else if (c >= 30 && c <= 37) state.fg = c - 30;
    else if (c === 39) state.fg = null;
    else if (c >= 40 && c <= 47) state.bg = c - 40;
    else if (c === 49) state.bg = null;
    else if (c >= 90 && c <= 97) state.fg = c - 90 + 8;
    else if (c >= 100 && c <= 107) state.bg = c - 100 + 8;
    else if (c === 38 || c === 48) {
      let color = null;
      if (codes[i + 1] === 5) {
        color = xterm256(codes[i + 2]);
        i += 2;
      } else if (codes[i + 1] === 2) {
        color = rgb(codes[i + 2], codes[i + 3], codes[i + 4]);
        i += 4;
      }
      if (color !== null) state[c === 38 ? "fg" : "bg"] = color;
    }
  }
}

/** Split a line into [{text, style}] segments; ``state`` carries over between lines. */
export function parse(line, state = newState()) {
  const segments = [];
  let last = 0;
  const push = (text) => {
    const clean = text.replace(CONTROLS, "");
    if (clean) segments.push({ text: clean, style: { ...state } });
  };
  ESCAPES.lastIndex = 0;
  let match;
  while ((match = ESCAPES.exec(line)) !== null) {
    if (match.index > last) push(line.slice(last, match.index));
    if (match[2] === "m") applySgr(state, match[1] || "");
    last = ESCAPES.lastIndex;
  }
  if (last < line.length) push(line.slice(last));
  return segments;
}

/** The line without any escape sequence (for filtering and downloads). */
export function strip(line) {
  return line.replace(ESCAPES, "").replace(CONTROLS, "");
}

function plainStyle(style) {
  return !style.bold && !style.dim && !style.italic && !style.underline && !style.strike && !style.inverse && style.fg === null && style.bg === null;
}

function paint(span, kind, color) {
  if (color === null) return;
  if (typeof color === "number") span.classList.add(`ansi-${kind}-${color}`);
  else if (kind === "fg") span.style.color = color; // CSSOM, allowed by the CSP
  else span.style.backgroundColor = color;
}

/** Append the segments to ``parent`` as text nodes and styled spans. */
export function render(segments, parent) {
  for (const { text, style } of segments) {
    if (plainStyle(style)) {
      parent.append(document.createTextNode(text));
      continue;
    }
    const span = document.createElement("span");
    span.textContent = text;
    if (style.bold) span.classList.add("ansi-bold");
    if (style.dim) span.classList.add("ansi-dim");
    if (style.italic) span.classList.add("ansi-italic");
    if (style.underline) span.classList.add("ansi-underline");
    if (style.strike) span.classList.add("ansi-strike");
    let { fg, bg } = style;
    if (style.inverse) [fg, bg] = [bg === null ? 0 : bg, fg === null ? 7 : fg];
    paint(span, "fg", fg);
    paint(span, "bg", bg);
    parent.append(span);
  }
  return parent;
}

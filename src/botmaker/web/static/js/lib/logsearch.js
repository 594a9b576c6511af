// Searching a log pane: a needle (plain text or a regular expression, case-insensitive)
// that tells which lines match and where, the matched parts marked without ever turning
// log text into markup, and the engine's timestamp taken off the front of a line.

import * as ansi from "./ansi.js";

const MAX_MARKS = 200; // marks per line: a regex matching every character stays cheap

/**
 * The needle for ``text``: {test(line) -> bool, ranges(line) -> [[from, to]]}, ``null``
 * for an empty search, or {error} for a regular expression that does not compile.
 */
export function compileNeedle(text, regex) {
  const source = text.trim();
  if (!source) return null;
  if (!regex) {
    const lower = source.toLowerCase();
    return {
      test: (line) => line.toLowerCase().includes(lower),
      ranges: (line) => {
        const out = [];
        const hay = line.toLowerCase();
        let at = hay.indexOf(lower);
        while (at >= 0 && out.length < MAX_MARKS) {
          out.push([at, at + lower.length]);
          at = hay.indexOf(lower, at + lower.length);
        }
        return out;
      },
    };
  }
  let pattern;
  try {
    pattern = new RegExp(source, "gi");
  } catch (error) {
    return { error: `Not a valid regular expression: ${error.message.replace(/^Invalid regular expression: /, "")}` };
  }
  return {
    test: (line) => {
      pattern.lastIndex = 0;
      return pattern.test(line);
    },
    ranges: (line) => {
      const out = [];
      pattern.lastIndex = 0;
      let match;
      while ((match = pattern.exec(line)) !== null && out.length < MAX_MARKS) {
        if (match[0].length === 0) {
          pattern.lastIndex += 1; // an empty match: step on, mark nothing
          continue;
        }
        out.push([match.index, match.index + match[0].length]);
      }
      return out;
    },
  };
}

/** Render ``segments`` into ``parent`` (text nodes and spans only), the characters in
 *  ``ranges`` (offsets into the joined text) inside <mark> elements. */
export function renderMarked(segments, ranges, parent) {
  if (!ranges.length) return ansi.render(segments, parent);
  let offset = 0;
  let r = 0;
  for (const segment of segments) {
    const end = offset + segment.text.length;
    let cut = offset;
    while (cut < end) {
      while (r < ranges.length && ranges[r][1] <= cut) r += 1;
      const range = ranges[r];
      if (!range || range[0] >= end) {
        ansi.render([{ text: segment.text.slice(cut - offset), style: segment.style }], parent);
        cut = end;
      } else if (range[0] > cut) {
        ansi.render([{ text: segment.text.slice(cut - offset, range[0] - offset), style: segment.style }], parent);
        cut = range[0];
      } else {
        const stop = Math.min(range[1], end);
        const mark = document.createElement("mark");
        mark.className = "log-match";
        ansi.render([{ text: segment.text.slice(cut - offset, stop - offset), style: segment.style }], mark);
        parent.append(mark);
        cut = stop;
      }
    }
    offset = end;
  }
  return parent;
}

// Docker's ``timestamps=1``: RFC 3339 with nanoseconds, then one space.
const STAMP = /^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?(?:Z|[+-]\d\d:\d\d)) /;

/** [Date or null, the rest of the line]. */
export function splitTimestamp(text) {
  const match = STAMP.exec(text);
  if (!match) return [null, text];
  const at = new Date(match[1].replace(/(\.\d{3})\d+/, "$1"));
  return [Number.isNaN(at.getTime()) ? null : at, text.slice(match[0].length)];
}

const pad = (n, width = 2) => String(n).padStart(width, "0");

/** A line's time as shown before it: local date and time to the millisecond. */
export function stampText(at) {
  return `${at.getFullYear()}-${pad(at.getMonth() + 1)}-${pad(at.getDate())} ${pad(at.getHours())}:${pad(at.getMinutes())}:${pad(at.getSeconds())}.${pad(at.getMilliseconds(), 3)}`;
}

/** A ``datetime-local`` input's value as an ISO time (UTC), or "" if empty or invalid. */
export function isoOfLocal(value) {
  if (!value) return "";
  const at = new Date(value);
  return Number.isNaN(at.getTime()) ? "" : at.toISOString();
}

// A tiny, safe Markdown preview for SOUL.md: headings, paragraphs, lists, **bold**,
// *italic* and `code`. Builds DOM nodes from text; never parses HTML.

import { h } from "./dom.js";

const INLINE = /(\*\*[^*]+\*\*|`[^`]+`|\*[^*\s][^*]*\*|_[^_\s][^_]*_)/g;

function inline(text) {
  const out = [];
  let last = 0;
  for (const match of text.matchAll(INLINE)) {
    if (match.index > last) out.push(text.slice(last, match.index));
    const token = match[0];
    if (token.startsWith("**")) out.push(h("strong", {}, token.slice(2, -2)));
    else if (token.startsWith("`")) out.push(h("code", {}, token.slice(1, -1)));
    else out.push(h("em", {}, token.slice(1, -1)));
    last = match.index + token.length;
  }
  if (last < text.length) out.push(text.slice(last));
  return out;
}

export function renderMarkdown(source, target) {
  const blocks = [];
  let paragraph = [];
  let list = null;
  const flush = () => {
    if (paragraph.length) blocks.push(h("p", {}, inline(paragraph.join(" "))));
    paragraph = [];
    list = null;
  };
  for (const raw of String(source || "").split("\n")) {
    const line = raw.trimEnd();
    const heading = /^(#{1,6})\s+(.*)$/.exec(line);
    const item = /^\s*(?:[-*+]|\d+[.)])\s+(.*)$/.exec(line);
    if (!line.trim()) flush();
    else if (heading) {
      flush();
      blocks.push(h(`h${Math.min(3, heading[1].length)}`, {}, inline(heading[2])));
    } else if (item) {
      if (paragraph.length) {
        blocks.push(h("p", {}, inline(paragraph.join(" "))));
        paragraph = [];
      }
      if (!list) {
        list = h("ul");
        blocks.push(list);
      }
      list.append(h("li", {}, inline(item[1])));
    } else {
      list = null;
      paragraph.push(line.trim());
    }
  }
  flush();
  target.replaceChildren(...blocks);
}

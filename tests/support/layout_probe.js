// Run in a page by tests/test_layout_pages.py: the problems of its layout, as text
// (empty: none).
() => {
  const problems = [];
  const width = window.innerWidth;
  const scrollWidth = document.scrollingElement.scrollWidth;
  if (scrollWidth > width) problems.push(`the page is ${scrollWidth} px wide in a ${width} px window`);
  // The box as laid out, cut by the ancestors that clip (overflow hidden or clip: the
  // visually hidden table headings); null if nothing of it shows. Ancestors that scroll
  // (overflow auto) do not cut it: a button scrolled out of view is still off-screen.
  const shown = (el) => {
    // Not rendered at all (display, visibility, opacity, or the content of a closed
    // <details>, which keeps its boxes but is not drawn).
    if (!el.checkVisibility({ checkOpacity: true, checkVisibilityCSS: true })) return null;
    const box = el.getBoundingClientRect();
    let rect = { left: box.left, right: box.right, top: box.top, bottom: box.bottom };
    for (let node = el; node; node = node.parentElement) {
      const style = getComputedStyle(node);
      if (style.visibility === "hidden" || style.display === "none" || Number(style.opacity) === 0) return null;
      if (node.tagName === "DIALOG" && !node.open) return null;
      const clips = (v) => v === "hidden" || v === "clip";
      if (node !== el && (clips(style.overflowX) || clips(style.overflowY))) {
        const outer = node.getBoundingClientRect();
        if (clips(style.overflowX)) rect = { ...rect, left: Math.max(rect.left, outer.left), right: Math.min(rect.right, outer.right) };
        if (clips(style.overflowY)) rect = { ...rect, top: Math.max(rect.top, outer.top), bottom: Math.min(rect.bottom, outer.bottom) };
      }
    }
    if (rect.right - rect.left < 2 || rect.bottom - rect.top < 2) return null;
    return rect;
  };
  const name = (el) => {
    const id = el.id ? `#${el.id}` : "";
    const cls = typeof el.className === "string" && el.className ? `.${el.className.trim().split(/\s+/).join(".")}` : "";
    const text = (el.getAttribute("aria-label") || el.textContent || "").trim().replace(/\s+/g, " ").slice(0, 30);
    return `${el.tagName.toLowerCase()}${id}${cls} "${text}"`;
  };
  // Content meant to scroll in its own box (logs, code, Swagger UI) is not the page's layout.
  const ownScroll = (el) => el.closest(".log-view, pre, .diff, .diag-reason, .api-docs, .soul-preview");
  const interactive = "a[href], button, input:not([type=hidden]), select, textarea, summary, [role=button], [tabindex='0']";
  const boxes = "a[href], button, input:not([type=hidden]), select, textarea, summary, [role=button], .card, td, th";
  const items = [];
  for (const el of document.querySelectorAll(boxes)) {
    if (ownScroll(el) && !el.matches(".log-view")) continue;
    const rect = shown(el);
    if (rect) items.push({ el, rect });
  }
  for (const { el, rect } of items) {
    if (!el.matches(interactive)) continue;
    if (rect.right > width + 1 || rect.left < -1) {
      problems.push(`${name(el)} lies outside the window (x ${Math.round(rect.left)} to ${Math.round(rect.right)})`);
    }
  }
  // A sticky or fixed bar (the wizard's Back/Next on a phone) floats over what scrolls
  // under it by design: it is checked for the window's width above, not for overlaps.
  const floating = (el) => {
    for (let node = el; node; node = node.parentElement) {
      const position = getComputedStyle(node).position;
      if (position === "sticky" || position === "fixed") return !node.matches(".topbar");
    }
    return false;
  };
  const laid = items.filter(({ el }) => !floating(el));
  for (let i = 0; i < laid.length; i += 1) {
    for (let j = i + 1; j < laid.length; j += 1) {
      const a = laid[i];
      const b = laid[j];
      if (a.el.contains(b.el) || b.el.contains(a.el)) continue;
      const x = Math.min(a.rect.right, b.rect.right) - Math.max(a.rect.left, b.rect.left);
      const y = Math.min(a.rect.bottom, b.rect.bottom) - Math.max(a.rect.top, b.rect.top);
      if (x > 2 && y > 2) problems.push(`${name(a.el)} overlaps ${name(b.el)} (${Math.round(x)}x${Math.round(y)} px)`);
    }
  }
  return problems;
}

// Tables that become cards on a phone: every cell of a table in a .table-wrap gets its
// column's heading as data-label, which views.css shows before the cell's value when the
// rows stack (narrow windows). Rows drawn later are labelled as they arrive.

function headings(table) {
  return Array.from(table.querySelectorAll("thead th")).map((th) =>
    // A visually hidden heading ("Actions") labels nothing on the card.
    th.querySelector(".visually-hidden") && th.textContent.trim() === th.querySelector(".visually-hidden").textContent.trim() ? "" : th.textContent.trim(),
  );
}

export function labelTables(root = document) {
  for (const table of root.querySelectorAll(".table-wrap table")) {
    const names = headings(table);
    if (!names.length) continue;
    for (const body of table.tBodies) {
      for (const row of body.rows) {
        if (row.dataset.labelled === String(row.cells.length)) continue;
        Array.from(row.cells).forEach((cell, i) => {
          if (cell.colSpan > 1 || !names[i]) return;
          cell.dataset.label = names[i];
        });
        row.dataset.labelled = String(row.cells.length);
      }
    }
  }
}

let queued = false;
const observer = new MutationObserver(() => {
  if (queued) return;
  queued = true;
  window.requestAnimationFrame(() => {
    queued = false;
    labelTables();
  });
});

function start() {
  labelTables();
  observer.observe(document.body, { childList: true, subtree: true });
}

if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start, { once: true });
else start();

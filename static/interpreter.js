// The header badge: how long the page's Python interpreter took to start (from
// navigation to PyScript's "<type>:ready"), then when authfetch was ready. The
// interpreter's name and the link to the other one are filled in by the server.
const root = document.documentElement;
const type = root.dataset.interpreter;
const shown = document.getElementById("interpreter-start");
let startedMs = null;
let readyMs = null;

function show() {
  const parts = [startedMs === null ? "starting…" : `started in ${startedMs} ms`];
  if (readyMs !== null) parts.push(`authfetch ready at ${readyMs} ms`);
  if (shown) shown.textContent = parts.join(", ");
}

document.addEventListener(
  `${type}:ready`,
  () => {
    if (startedMs !== null) return;
    startedMs = Math.round(performance.now());
    root.dataset.interpreterStartMs = String(startedMs);
    show();
  },
  { capture: true },
);

new MutationObserver(() => {
  if (readyMs === null && root.dataset.authfetch === "ready") {
    readyMs = Math.round(performance.now());
    show();
  }
}).observe(root, { attributes: true, attributeFilter: ["data-authfetch"] });

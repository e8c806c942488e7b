// Shows PyScript's start-up steps under the spinner until Python takes over
// (Pyodide reports them as "py:progress", MicroPython as "mpy:progress").
const step = document.getElementById("loading-step");
for (const type of ["py", "mpy"]) {
  addEventListener(`${type}:progress`, (event) => {
    if (step && typeof event.detail === "string") step.textContent = event.detail;
  });
}
// A page that cannot start says why (authfetch-start.js, or the library's own start-up).
addEventListener("authfetch:error", (event) => {
  const loading = document.getElementById("loading");
  if (step && loading && !loading.hidden) step.textContent = event.detail.message;
});

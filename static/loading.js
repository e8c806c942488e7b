// Shows PyScript's start-up steps under the spinner until Python takes over.
const step = document.getElementById("loading-step");
addEventListener("py:progress", (event) => {
  if (step && typeof event.detail === "string") step.textContent = event.detail;
});

"""PyScript + Pyodide with nothing on top: mark the page ready, the start-up baseline."""

from pyscript import document

document.documentElement.dataset.pyscript = "ready"

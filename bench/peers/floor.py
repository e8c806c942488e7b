"""PyScript with nothing on top (either interpreter): mark the page ready. The floor."""

from pyscript import document

document.documentElement.dataset.pyscript = "ready"

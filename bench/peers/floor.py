"""PyScript with nothing on top (either interpreter): mark the page ready. The floor.

The first line notes when the page's Python starts, for the start-up table (its cost is
one attribute set, on every page that notes it).
"""

import js

js.window.__benchScriptAt = js.performance.now()

from pyscript import document  # noqa: E402 - after the mark

document.documentElement.dataset.pyscript = "ready"

"""The passthrough floor: one Python function that only calls ``fetch``.

JavaScript (``passthrough.js``) calls ``pyFetch(url, init, resolve, reject)``. On
Pyodide the function returns ``fetch``'s promise; on MicroPython, where a value
returned to JavaScript can get lost, it hands the response back through the
callbacks. Either way this is the least a Python ``fetch`` wrapper costs.
"""

import sys

import js
from pyscript.ffi import create_proxy

if sys.implementation.name == "micropython":

    def passthrough(url, init, resolve, reject):
        """Call fetch; hand its outcome to the JavaScript callbacks."""
        js.fetch(url, init).then(resolve, reject)

else:

    def passthrough(url, init, resolve, reject):
        """Call fetch; return its promise."""
        return js.fetch(url, init)


js.window.pyFetch = create_proxy(passthrough)
js.document.documentElement.dataset.peer = "ready"

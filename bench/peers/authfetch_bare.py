"""authfetch alone on a page (either interpreter): ``setup()`` publishes ``window.authfetch``.

The first line notes when the page's Python starts, as the floor's does (the start-up
table): what comes before is PyScript fetching and unpacking the library's archive, what
comes after is the import and ``setup()``.
"""

import js

js.window.__benchScriptAt = js.performance.now()

from authfetch.web import setup  # noqa: E402 - after the mark

setup()

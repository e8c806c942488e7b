"""authfetch alone on a page: ``setup()`` publishes ``window.authfetch``, nothing else runs."""

from authfetch.web import setup

setup()

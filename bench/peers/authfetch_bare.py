"""authfetch alone on a page (either interpreter): ``setup()`` publishes ``window.authfetch``."""

from authfetch.web import setup

setup()

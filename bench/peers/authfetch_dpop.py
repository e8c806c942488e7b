"""authfetch alone on a page with DPoP on: every request carries a proof (``setup(dpop=True)``)."""

from authfetch.web import setup

setup(dpop=True)

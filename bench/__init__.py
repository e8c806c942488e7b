"""Benchmarks of authfetch against the usual Axios answers, in a real Chromium.

Run with ``make bench`` (``python -m bench --help`` for the options). Not part of
``make test``: nothing here is collected by pytest.
"""

"""The load test: locust against the mock server (``python -m bench.load``)."""

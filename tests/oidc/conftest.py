"""The node-oidc-provider fixture for every test in this folder (one set of processes)."""

from e2e_tests.oidc_provider import oidc_provider_factory  # noqa: F401

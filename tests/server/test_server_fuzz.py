"""schemathesis against a live ``python -m server --testing``: its own description, fuzzed.

Bounded and reproducible: Hypothesis runs derandomized with a fixed number of
examples and no example database, so every run sends the same requests. The
checks: no 5xx, every answer's status, content type, headers and body as the
description says (so every error is the JSON error object), and, statefully,
the description's links — login → refresh → the API, logout, a token presented
again — followed with the tokens the server really issued.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from liveserver import Server
from schemathesis import GenerationMode
from schemathesis.config import SchemathesisConfig
from schemathesis.specs.openapi.checks import positive_data_acceptance
from schemathesis.specs.openapi.schemas import OpenApiSchema
from serverkit import DEMO, FAST_HASH

from server import create_app
from server.openapi import describe

# The API and the token routes; not the page's files, nor the test controls (a fuzzed
# POST /__test__/faults would arm real 5xx answers, a fuzzed clock would end sessions).
FUZZED_PATHS = r"^/(auth|api|oauth)/|^/\.well-known/"
# The stateful chains follow the JSON dialect's links (login → refresh → the API).
STATEFUL_PATHS = r"^/(auth|api)/"
SEED = 9
STATELESS = settings(
    max_examples=25,
    deadline=None,
    derandomize=True,
    database=None,
    phases=[Phase.explicit, Phase.generate],
    suppress_health_check=list(HealthCheck),
)
STATEFUL = settings(
    max_examples=60,
    stateful_step_count=12,
    deadline=None,
    derandomize=True,
    database=None,
    phases=[Phase.explicit, Phase.generate],
    suppress_health_check=list(HealthCheck),
)


@pytest.fixture(scope="module")
def fuzzed_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """One live server for the module; access tokens outlive the run (no clock games).

    Its database is made first with a cheap scrypt for the demo user, so the
    many logins of the stateful chains cost little CPU (a random user still
    costs the full scrypt work).
    """
    folder = tmp_path_factory.mktemp("fuzz")
    create_app(
        {"DATABASE": str(folder / "db" / "authfetch.sqlite3"), "PASSWORD_HASH_METHOD": FAST_HASH}
    )
    server = Server(folder, "--access-ttl", "3600")
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="module")
def api_schema(fuzzed_server: Server) -> OpenApiSchema:
    """The server's own ``/openapi.json``, narrowed to the token routes and the API."""
    config = SchemathesisConfig.from_dict(
        {
            "seed": SEED,
            # Follow the description's own links with fixed odds: no links inferred from
            # responses, no odds tuned to what earlier runs answered.
            "phases": {"stateful": {"link-calibration": False, "inference": {"algorithms": []}}},
            "operations": [
                {  # OAuth: a well-formed refresh token that is not (or no longer) valid is a 400
                    "include-operation-id": "refresh",
                    "checks": {"positive_data_acceptance": {"expected-statuses": ["2XX", "400"]}},
                },
                *(  # random codes, tokens, clients and redirect URIs are refused the OAuth way
                    {
                        "include-operation-id": operation_id,
                        "checks": {
                            "positive_data_acceptance": {
                                "expected-statuses": ["2XX", "3XX", "400", "401"]
                            },
                            # refused as too large (413) or, by the browser-facing routes,
                            # sent back to the client's redirect URI (302) with an error
                            "negative_data_rejection": {
                                "expected-statuses": ["302", "400", "401", "413", "415"]
                            },
                        },
                    }
                    for operation_id in (
                        "authorize",
                        "signIn",
                        "oauthToken",
                        "oauthRevoke",
                        "endSession",
                    )
                ),
            ],
        }
    )
    loaded = schemathesis.openapi.from_url(fuzzed_server.url + "/openapi.json", config=config)
    return loaded.include(path_regex=FUZZED_PATHS)


FUZZED_OPERATIONS = [
    (method, path, mode)
    for path, item in describe(testing=False)["paths"].items()
    if re.match(FUZZED_PATHS, path)
    for method, operation in item.items()
    for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE)
    # an operation without any input (discovery, JWKS) has no invalid input to send
    if mode is GenerationMode.POSITIVE or {"parameters", "requestBody", "security"} & set(operation)
]


@pytest.mark.parametrize(
    ("method", "path", "mode"),
    FUZZED_OPERATIONS,
    ids=[f"{m.upper()} {p}-{mode}" for m, p, mode in FUZZED_OPERATIONS],
)
def test_every_answer_conforms(
    api_schema: OpenApiSchema, method: str, path: str, mode: GenerationMode
) -> None:
    """Fuzzed requests to one operation (valid or invalid input): answers as described, no 5xx."""
    operation = api_schema[path][method]

    @STATELESS
    @given(case=operation.as_strategy(generation_mode=mode))
    def fuzz(case: Any) -> None:
        if not _random_proof_at_login(case):
            case.call_and_validate()
            return
        # A schema-valid DPoP header is a random string, not a proof: login refuses it
        # (400 invalid_dpop_proof) instead of accepting the valid body; all else is checked.
        response = case.call_and_validate(excluded_checks=[positive_data_acceptance])
        if response.status_code == 400:
            assert response.json()["error"] == "invalid_dpop_proof", response.text

    fuzz()


def _random_proof_at_login(case: Any) -> bool:
    """A positive ``POST /auth/login`` case that carries a (random) DPoP header."""
    return (
        case.operation.label == "POST /auth/login"
        and "DPoP" in (case.headers or {})
        and case.meta.generation.mode is GenerationMode.POSITIVE
    )


def test_stateful_links(api_schema: OpenApiSchema, fuzzed_server: Server) -> None:
    """Chains that follow the links with real tokens: login → refresh → API, all conforming.

    Every login of a chain is the demo user's (random credentials are the
    stateless test's job), so the chains start from a live session.
    """
    followed: Counter[tuple[str, int]] = Counter()
    steps: Counter[int] = Counter()
    base = api_schema.include(path_regex=STATEFUL_PATHS).as_state_machine()

    class Machine(base):  # type: ignore[valid-type, misc]
        """Logs in as the demo user; records each link followed and what it answered."""

        def before_call(self, case: Any) -> None:
            """A chain's login uses the demo credentials; its token calls send no random
            DPoP header (a random string is no proof: the stateless test sends those)."""
            if case.operation.label == "POST /auth/login":
                case.body = dict(DEMO)
            if case.operation.label.startswith("POST /auth/") and case.headers:
                case.headers.pop("DPoP", None)

        def step(self, step_input: Any) -> Any:
            """Run the step; count the link it followed, if one was applied."""
            output = super().step(step_input)
            steps[output.response.status_code] += 1
            if step_input.transition is not None and step_input.is_applied:
                followed[(step_input.transition.id, output.response.status_code)] += 1
            return output

    Machine.run(settings=STATEFUL)

    def answered(source: str, target: str, success: bool) -> int:
        """How often a link from ``source`` to ``target`` answered 2xx (``success``) or not."""
        return sum(
            count
            for (link, status), count in followed.items()
            if link.startswith(source) and target in link.rsplit(" -> ", 1)[1]
            and (200 <= status < 300) is success
        )  # fmt: skip

    assert answered("POST /auth/login", "/auth/refresh", success=True) > 0, followed
    assert answered("POST /auth/refresh", "/api/", success=True) > 0, followed
    assert answered("POST /auth/login", "/api/", success=True) > 0, followed
    assert answered("POST /auth/logout", "/auth/refresh", success=False) > 0, followed
    assert not [status for status in steps if status >= 500], steps
    assert steps.total() >= 200, steps
    assert "Traceback" not in Path(fuzzed_server.stderr_path).read_text()

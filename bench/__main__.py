"""``python -m bench``: run the scenarios against authfetch and the Axios peers, and the
multi-tab rotation against node-oidc-provider with oidc-client-ts as the peer
(``oidc-rotation``, :mod:`bench.oidc_rotation`).

A full run writes ``bench/results.md`` and the copy in ``bench/README.md``; a
partial one (``--quick`` or ``--only``) writes ``bench/results/partial.md``
unless ``--output`` says otherwise. The exit status is 1 when any scenario
failed for any client.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

from playwright.sync_api import sync_playwright
from pytest_authfetch import AuthfetchServer, ServerOptions

from bench import oidc_rotation
from bench.browser import BENCH_DIR, StaticServer, launch
from bench.deps import SetupError, ensure_peers
from bench.report import render, update_readme
from bench.scenarios import SCENARIOS, Bench, Settings, Table, targets

RESULTS = BENCH_DIR / "results.md"
PARTIAL = BENCH_DIR / "results" / "partial.md"
#: The scenario of bench/oidc_rotation.py, run after those of bench/scenarios.py.
OIDC_ROTATION = "oidc-rotation"
#: Every scenario's name, in the order they run.
ALL = [*SCENARIOS, OIDC_ROTATION]
#: Rounds of the OIDC rotation with ``--quick``.
QUICK_OIDC_ROUNDS = 3


def parse_args(argv: list[str]) -> argparse.Namespace:
    """The command line."""
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument(
        "--quick", action="store_true", help="one round of each, fewer requests (a quick look)"
    )
    parser.add_argument(
        "--only",
        action="append",
        default=[],
        metavar="NAME",
        help=f"run only these scenarios (repeat or comma-separate): {', '.join(ALL)}",
    )
    parser.add_argument("--output", type=Path, help="where to write the Markdown results")
    args = parser.parse_args(argv)
    names = [name.strip() for value in args.only for name in value.split(",") if name.strip()]
    unknown = [name for name in names if name not in ALL]
    if unknown:
        parser.error(f"unknown scenario {', '.join(unknown)}; choose from {', '.join(ALL)}")
    args.only = [name for name in ALL if name in names] or list(ALL)
    return args


def oidc_rotation_table(bench: Bench, quick: bool) -> Table:
    """The multi-tab rotation against node-oidc-provider: authfetch on both interpreters
    and oidc-client-ts (an "n/a" row when the peer could not be installed)."""
    kinds = oidc_rotation.kinds_for(list(oidc_rotation.CLIENTS))
    missing = oidc_rotation.peer_missing(kinds)
    if missing:
        kinds = [kind for kind in kinds if kind.served_by != "static"]
    rounds = QUICK_OIDC_ROUNDS if quick else oidc_rotation.ROUNDS
    results = []
    failed: list[tuple[str, BaseException]] = []
    for kind in kinds:
        try:
            results += oidc_rotation.run_all(bench.browser, [kind], rounds=rounds)
        except Exception as error:  # one client's failure is a row, not the end of the run
            failed.append((kind.label, error))
    table = oidc_rotation.table(results)
    for label, problem in failed:
        table.add_failure(bench, label, problem)
    if missing:
        peer = oidc_rotation.oidc_client_ts_kind().label
        table.rows.append([peer, f"n/a ({missing})"] + [""] * (len(table.columns) - 2))
    return table


def main(argv: list[str]) -> int:
    """Set up, run the chosen scenarios, write and print the results; the exit status."""
    args = parse_args(argv)
    full = not args.quick and args.only == ALL
    settings = Settings.quick() if args.quick else Settings()
    output = args.output or (RESULTS if full else PARTIAL)
    try:
        ensure_peers()
    except SetupError as error:
        print(error, file=sys.stderr)
        return 1
    started = time.perf_counter()
    load_at_start = os.getloadavg()[0]
    with tempfile.TemporaryDirectory(prefix="authfetch-bench-") as tmp:
        folder = Path(tmp)
        strict = AuthfetchServer.launch(folder / "strict.sqlite3", ServerOptions(reuse_grace=0))
        lenient = AuthfetchServer.launch(folder / "default.sqlite3", ServerOptions())
        # Start-up pages sit behind the static server; long tokens, so no refresh falls due
        # (with the test controls' login rate limit: each round logs in once per page).
        long_lived = AuthfetchServer.launch(
            folder / "startup.sqlite3", ServerOptions(access_ttl=600)
        )
        static = StaticServer(long_lived.url)
        try:
            with sync_playwright() as playwright:
                browser = launch(playwright)
                chromium = f"Chromium {browser.version}"
                bench = Bench(browser, strict, lenient, static, settings)
                tables = []
                for name in args.only:
                    print(f"bench: {name}", flush=True)
                    if name == OIDC_ROTATION:
                        tables.append(oidc_rotation_table(bench, args.quick))
                    else:
                        tables.append(SCENARIOS[name](bench))
                tables.insert(0, targets(bench))
                browser.close()
        finally:
            static.stop()
            long_lived.stop()
            lenient.stop()
            strict.stop()
    elapsed = time.perf_counter() - started
    command = "make bench" + (f' BENCH_ARGS="{" ".join(argv)}"' if argv else "")
    load = (load_at_start, os.getloadavg()[0])
    results = render(tables, chromium, settings, elapsed, bench.failures, command, load)
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(results)
    if full and args.output is None:
        update_readme(results)
    print()
    print(results)
    print(f"bench: results written to {output}")
    if bench.failures:
        print(f"bench: {len(bench.failures)} failure(s), see above", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

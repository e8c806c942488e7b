"""``python -m bench``: run the scenarios against authfetch and the Axios peers.

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

from bench.browser import BENCH_DIR, StaticServer, launch
from bench.deps import SetupError, ensure_peers
from bench.report import render, update_readme
from bench.scenarios import SCENARIOS, Bench, Settings, targets

RESULTS = BENCH_DIR / "results.md"
PARTIAL = BENCH_DIR / "results" / "partial.md"


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
        help=f"run only these scenarios (repeat or comma-separate): {', '.join(SCENARIOS)}",
    )
    parser.add_argument("--output", type=Path, help="where to write the Markdown results")
    args = parser.parse_args(argv)
    names = [name.strip() for value in args.only for name in value.split(",") if name.strip()]
    unknown = [name for name in names if name not in SCENARIOS]
    if unknown:
        parser.error(f"unknown scenario {', '.join(unknown)}; choose from {', '.join(SCENARIOS)}")
    args.only = [name for name in SCENARIOS if name in names] or list(SCENARIOS)
    return args


def main(argv: list[str]) -> int:
    """Set up, run the chosen scenarios, write and print the results; the exit status."""
    args = parse_args(argv)
    full = not args.quick and args.only == list(SCENARIOS)
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

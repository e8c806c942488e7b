"""``python -m bench.load``: the locust load test against a real mock server, on loopback only.

Starts ``python -m server --testing`` (through the pytest plugin's handle) on a temporary
database, runs locust headless with ``--users`` API clients plus one storm user, bounded by
a task count per client and by ``--run-time``, then prints the figures and writes them
with the date and the machine to ``bench/load-results.md``. Exit status 1 when an answer
was a 5xx, a request got no answer, or a storm left other than one live refresh token.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import subprocess
import sys
import tempfile
from importlib.metadata import version
from pathlib import Path
from typing import Any

from pytest_authfetch import AuthfetchServer, ServerOptions

HERE = Path(__file__).resolve().parent
OUTPUT = HERE.parent / "load-results.md"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """The load's size and bounds."""
    parser = argparse.ArgumentParser(prog="python -m bench.load", description=__doc__)
    add = parser.add_argument
    add("--users", type=int, default=200, help="concurrent API clients (default 200)")
    add("--spawn-rate", type=float, default=5, help="clients started per second (default 5)")
    add("--tasks", type=int, default=60, help="tasks per client before it stops (default 60)")
    add("--storms", type=int, default=10, help="refresh storms (default 10)")
    add("--storm-size", type=int, default=50, help="parallel refreshes per storm (default 50)")
    add("--run-time", type=int, default=170, help="hard time limit, seconds (default 170)")
    add("--keep-alive", action="store_true", help="reuse connections (waitress serves 100)")
    add("--output", type=Path, default=OUTPUT, help=f"report file (default {OUTPUT.name})")
    return parser.parse_args(argv)


def machine() -> str:
    """CPU model and count, OS, Python and locust versions."""
    model = platform.processor() or "unknown CPU"
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        for line in cpuinfo.read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    return (
        f"{os.cpu_count()} x {model}, {platform.system()} {platform.release()}, "
        f"Python {platform.python_version()}, locust {version('locust')}, "
        f"load average at start {os.getloadavg()[0]:.2f}"
    )


def run_locust(server: AuthfetchServer, args: argparse.Namespace, results: Path) -> None:
    """Run locust headless against ``server``; the locustfile writes ``results``."""
    env = {
        **os.environ,
        "AUTHFETCH_LOAD_USERS": str(args.users),
        "AUTHFETCH_LOAD_TASKS": str(args.tasks),
        "AUTHFETCH_LOAD_STORMS": str(args.storms),
        "AUTHFETCH_LOAD_STORM_SIZE": str(args.storm_size),
        "AUTHFETCH_LOAD_DB": str(server.db_path),
        "AUTHFETCH_LOAD_RESULTS": str(results),
        "AUTHFETCH_LOAD_KEEP_ALIVE": "1" if args.keep_alive else "0",
    }
    command = [
        sys.executable, "-m", "locust", "-f", str(HERE / "locustfile.py"), "--headless",
        "--host", server.url, "--users", str(args.users + 1), "--spawn-rate", str(args.spawn_rate),
        "--run-time", f"{args.run_time}s", "--stop-timeout", "10", "--only-summary",
        "--loglevel", "WARNING", "--exit-code-on-error", "0",
    ]  # fmt: skip
    subprocess.run(command, env=env, check=True, timeout=args.run_time + 60)


def verdicts(figures: dict[str, Any], server_log: str) -> list[str]:
    """What went wrong (empty: the run passed)."""
    problems = []
    fivexx = sum(n for status, n in figures["statuses"].items() if int(status) >= 500)
    if fivexx:
        problems.append(f"{fivexx} answers were 5xx")
    if figures["statuses"].get("0"):
        problems.append(f"{figures['statuses']['0']} requests got no answer")
    if "Traceback" in server_log:
        problems.append("the server logged a traceback")
    bad = [s for s in figures["storms"] if s["live"] != 1 or s["revoked"]]
    if bad:
        problems.append(f"{len(bad)} storms did not leave exactly one live successor: {bad}")
    if len(figures["storms"]) == 0:
        problems.append("no storm ran")
    return problems


def report(
    figures: dict[str, Any], args: argparse.Namespace, problems: list[str], host: str
) -> str:
    """The Markdown report (``host``: :func:`machine` taken at the start)."""
    seconds = figures["seconds"] or 1
    lines = [
        "# Load test (locust)",
        "",
        f"Run {datetime.datetime.now(datetime.UTC):%Y-%m-%d %H:%M} UTC on {host}.",
        "`make bench` (or `.venv/bin/python -m bench.load`) runs it: "
        f"{args.users} concurrent API clients (started at {args.spawn_rate:g}/s) each log in "
        f"and run {args.tasks} tasks (GET /api/me 6 : GET /api/items 3 : POST /api/items 1 : "
        "refresh 1, 0.5-2 s apart; on a 401 refresh and call again), plus one user that "
        f"fires {args.storms} storms of {args.storm_size} parallel refreshes of one token "
        "(once every client has logged in). "
        + (
            "Connections are kept alive. "
            if args.keep_alive
            else "Each request opens its own connection (waitress serves at most 100 at once, "
            "so 200 keep-alive clients would queue). "
        )
        + "Server: `python -m server --testing` (waitress, 8 threads, SQLite), loopback only, "
        "load generator on the same machine.",
        "",
        "| figure | value |",
        "| --- | --- |",
        f"| requests | {figures['requests']} in {seconds:.0f} s |",
        f"| throughput | {figures['requests'] / seconds:.0f} requests/s |",
        f"| latency p50 / p99, API and refresh calls | {figures['api_p50_ms']:.0f} / "
        f"{figures['api_p99_ms']:.0f} ms |",
        f"| latency p50 / p99, everything (logins: scrypt) | {figures['p50_ms']:.0f} / "
        f"{figures['p99_ms']:.0f} ms |",
        f"| answers by status | {_statuses(figures['statuses'])} |",
        f"| 5xx / no answer | {_count(figures, 500)} / {figures['statuses'].get('0', 0)} |",
        f"| storms: refresh answers | {_storm_answers(figures['storms'])} |",
        "| storms: live refresh tokens per family after the storm | "
        + ", ".join(str(s["live"]) for s in figures["storms"])
        + " (revoked: "
        + str(sum(s["revoked"] for s in figures["storms"]))
        + ") |",
        f"| verdict | {'PASS' if not problems else 'FAIL: ' + '; '.join(problems)} |",
        "",
        "| request | count | p50 ms | p99 ms |",
        "| --- | --- | --- | --- |",
    ]
    for name, entry in sorted(figures["per_name"].items()):
        lines.append(f"| `{name}` | {entry['requests']} | {entry['p50_ms']:.0f} | "
                     f"{entry['p99_ms']:.0f} |")  # fmt: skip
    return "\n".join(lines) + "\n"


def _statuses(statuses: dict[str, int]) -> str:
    """``200 x n, 201 x m, ...``."""
    return ", ".join(f"{status} x {n}" for status, n in statuses.items())


def _count(figures: dict[str, Any], floor: int) -> int:
    """Answers with a status of ``floor`` or more."""
    return sum(n for status, n in figures["statuses"].items() if int(status) >= floor)


def _storm_answers(storms: list[dict[str, Any]]) -> str:
    """Statuses summed over every storm."""
    total: dict[str, int] = {}
    for storm in storms:
        for status, n in storm["answers"].items():
            total[status] = total.get(status, 0) + n
    return _statuses(dict(sorted(total.items())))


def main(argv: list[str] | None = None) -> int:
    """Run the load, print and write the report; 1 if it found a problem."""
    args = parse_args(argv)
    host = machine()
    with tempfile.TemporaryDirectory(prefix="authfetch-load-") as tmp:
        server = AuthfetchServer.launch(Path(tmp) / "load.sqlite3", ServerOptions())
        try:
            run_locust(server, args, Path(tmp) / "results.json")
        finally:
            server.stop()
        figures = json.loads((Path(tmp) / "results.json").read_text())
        problems = verdicts(figures, server.log())
    text = report(figures, args, problems, host)
    print(text)
    args.output.write_text(text)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())

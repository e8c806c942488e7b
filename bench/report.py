"""The results page: machine facts, the scenarios' tables, and the copy in the README."""

from __future__ import annotations

import json
import os
import platform
import subprocess
from datetime import datetime
from importlib.metadata import version
from pathlib import Path

from bench.browser import BENCH_DIR, ROOT
from bench.scenarios import Settings, Table
from server.page import runtime_versions

README = BENCH_DIR / "README.md"
RESULTS_START = "<!-- results:start -->"
RESULTS_END = "<!-- results:end -->"


def cpu_model() -> str:
    """The processor's model name (Linux), else what ``platform`` says."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def memory_gib() -> str:
    """Total memory in GiB (Linux), else ``?``."""
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return f"{int(line.split()[1]) / 2**20:.0f}"
    except (OSError, ValueError):
        pass
    return "?"


def commit() -> str:
    """The authfetch commit measured (``+ local changes`` when the tree is dirty)."""

    def git(*args: str) -> str:
        done = subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True)
        return done.stdout.strip() if done.returncode == 0 else ""

    head = git("rev-parse", "--short", "HEAD") or "unknown"
    return head + (" + local changes" if git("status", "--porcelain") else "")


def package_version(name: str, where: Path = BENCH_DIR) -> str:
    """The installed version of an npm package under ``where/node_modules`` (``bench/``
    unless told)."""
    try:
        manifest = where / "node_modules" / name / "package.json"
        return json.loads(manifest.read_text())["version"]
    except (OSError, ValueError, KeyError):
        return "?"


def render(
    tables: list[Table],
    chromium: str,
    settings: Settings,
    elapsed_s: float,
    failures: list[str],
    command: str,
    load: tuple[float, float],
) -> str:
    """The whole results page as Markdown (``load``: 1-min load average at start and end)."""
    when = datetime.now().astimezone().strftime("%Y-%m-%d %H:%M %Z")
    lines = [
        "## Results",
        "",
        f"Measured {when} with `{command}` in {elapsed_s:.0f} s. The server's load test and"
        " the long browser fault soak, which `make bench` runs first, are at the end of this"
        " page (their own pages: [load-results.md](load-results.md),"
        " [soak-results.md](soak-results.md)).",
        "",
        "| machine | |",
        "| --- | --- |",
        f"| cores | {os.cpu_count()} ({cpu_model()}) |",
        f"| memory | {memory_gib()} GiB |",
        f"| load average (1 min) | {load[0]:.1f} at start, {load[1]:.1f} at end |",
        f"| Chromium | {chromium} (headless) |",
        f"| authfetch | commit {commit()}, {runtimes_text()} |",
        f"| peers | axios {package_version('axios')}, axios-auth-refresh "
        f"{package_version('axios-auth-refresh')}, oidc-client-ts "
        f"{package_version('oidc-client-ts')} |",
        f"| provider | node-oidc-provider {package_version('oidc-provider', ROOT)} "
        "(the multi-tab rotation) |",
        f"| driver | Python {platform.python_version()}, Playwright {version('playwright')} |",
        f"| settings | {settings_text(settings)} |",
        "",
    ]
    for table in tables:
        lines.append(table.markdown())
    if failures:
        lines += ["### Failures", ""] + [f"- {failure}" for failure in failures] + [""]
    lines += embedded_results()
    return "\n".join(lines)


#: The pages of ``make bench-load`` and ``make bench-soak``, embedded in the results page.
EMBEDDED = ("load-results.md", "soak-results.md")


def embedded_results() -> list[str]:
    """The latest load-test and fault-soak pages (each says when and where it ran), with
    their headings moved under this page's."""
    lines: list[str] = []
    for name in EMBEDDED:
        path = BENCH_DIR / name
        if path.exists():
            text = path.read_text().strip()
            lines += [("##" + line) if line.startswith("#") else line for line in text.split("\n")]
            lines.append("")
    return lines


def runtimes_text() -> str:
    """The vendored runtimes' versions (package.json pins them; the set-up records them)."""
    versions = runtime_versions(ROOT / "vendor")
    return ", ".join(f"{name} {version}" for name, version in sorted(versions.items()))


def settings_text(settings: Settings) -> str:
    """The run's sizes in one line."""
    return (
        f"burst {settings.burst_runs} runs, tabs {settings.tabs_runs} runs, "
        f"{settings.lifetimes} lifetimes, {settings.overhead_requests} requests for overhead, "
        f"start-up and memory {settings.startup_runs} runs"
    )


def update_readme(results: str) -> None:
    """Replace the results between the markers in ``bench/README.md``."""
    text = README.read_text()
    start, end = text.find(RESULTS_START), text.find(RESULTS_END)
    if start < 0 or end < start:
        print(f"bench: {README.name} has no results markers; not updated")
        return
    body = results.replace("\n## Results\n", "\n", 1).removeprefix("## Results\n")
    updated = text[: start + len(RESULTS_START)] + "\n" + body.strip() + "\n" + text[end:]
    README.write_text(updated)

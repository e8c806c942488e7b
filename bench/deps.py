"""The peers' own set-up: ``npm ci --prefix bench`` from the committed lock file."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent
NODE_MODULES = BENCH_DIR / "node_modules"
#: Written after a successful ``npm ci``; older than the lock file means "install again".
MARKER = NODE_MODULES / ".bench-installed"
LOG = BENCH_DIR / "results" / "npm-ci.log"
#: What the peer pages load; present after a good install.
REQUIRED = (
    NODE_MODULES / "axios" / "dist" / "esm" / "axios.min.js",
    NODE_MODULES / "axios-auth-refresh" / "dist" / "index.esm.js",
)


class SetupError(RuntimeError):
    """The peers could not be installed; the message is one line saying why."""


def needs_install() -> bool:
    """Tell whether ``bench/node_modules`` is missing, incomplete or older than the lock."""
    if not MARKER.exists() or not all(path.exists() for path in REQUIRED):
        return True
    lock = BENCH_DIR / "package-lock.json"
    return lock.stat().st_mtime > MARKER.stat().st_mtime


def ensure_peers() -> None:
    """Install the pinned peers (axios, axios-auth-refresh) unless they are already there."""
    if not needs_install():
        return
    npm = shutil.which("npm")
    if npm is None:
        raise SetupError("bench set-up: npm not found (install Node 20+ with npm)")
    LOG.parent.mkdir(parents=True, exist_ok=True)
    log_name = LOG.relative_to(BENCH_DIR.parent)
    print(f"bench set-up: installing the pinned peers from npm (log: {log_name})")
    command = [npm, "ci", "--prefix", str(BENCH_DIR), "--no-audit", "--no-fund"]
    command += ["--fetch-retries", "1", "--fetch-timeout", "30000"]
    with LOG.open("w") as log:
        done = subprocess.run(command, stdout=log, stderr=subprocess.STDOUT, check=False)
    if done.returncode != 0 or not all(path.exists() for path in REQUIRED):
        raise SetupError(
            "bench set-up: npm ci --prefix bench failed (is the npm registry reachable?): "
            + first_error_line(LOG)
        )
    MARKER.touch()


def first_error_line(log: Path) -> str:
    """The first line of ``log`` that mentions an error (else its last line)."""
    lines = [line.strip() for line in log.read_text(errors="replace").splitlines() if line.strip()]
    for line in lines:
        if "err" in line.lower():
            return line
    return lines[-1] if lines else "no output"

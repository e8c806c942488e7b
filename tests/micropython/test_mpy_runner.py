"""The MicroPython test runner (run.mjs + mpy_runner.py + the pytest shim) counts,
skips visibly and fails ``make`` on any failure; run here against sample test files."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
RUNNER = ROOT / "tests" / "micropython" / "run.mjs"

SAMPLE = """
import asyncio
import pytest

MICROPYTHON_SKIP = {"test_skipped_by_the_file": "needs CPython"}


def test_plain_assert_passes():
    assert 1 + 1 == 2


def test_plain_assert_fails():
    assert 1 + 1 == 3


@pytest.mark.parametrize(("value", "double"), [(1, 2), (2, 5)])
def test_parametrized_once_per_case(value, double):
    assert value * 2 == double


@pytest.mark.parametrize("x", [1, 2])
@pytest.mark.parametrize("y", [10])
def test_stacked_parametrize(x, y):
    assert x < y


def test_raises_with_match_passes():
    with pytest.raises(ValueError, match="bad v.lue") as info:
        raise ValueError("a bad value")
    assert info.value.args == ("a bad value",)


def test_raises_when_nothing_raised_fails():
    with pytest.raises(KeyError):
        pass


def test_raises_called_form_and_approx():
    pytest.raises(ZeroDivisionError, lambda: 1 / 0)
    assert [0.1 + 0.2, 1.0] == pytest.approx([0.3, 1.0])
    assert 0.31 != pytest.approx(0.3)


def test_asyncio_run_with_tasks_and_events():
    async def main():
        event = asyncio.Event()

        async def setter():
            await asyncio.sleep(0)
            event.set()
            return "set"

        task = asyncio.create_task(setter())
        await event.wait()
        return await task

    assert asyncio.run(main()) == "set"


def test_asyncio_run_reraises():
    async def boom():
        raise LookupError("inside")

    with pytest.raises(LookupError):
        asyncio.run(boom())


def test_asyncio_run_that_can_never_finish_fails_clearly():
    async def stuck():
        await asyncio.Event().wait()

    asyncio.run(stuck())


def test_skip_inside_a_test():
    pytest.skip("decided at run time")


def test_skipped_by_the_file():
    raise AssertionError("must not run")
"""


def run_runner(folder: Path, *names: str) -> subprocess.CompletedProcess:
    """Run run.mjs over the test files in ``folder``."""
    node = shutil.which("node")
    if node is None:
        pytest.fail("node is not installed (the set-up requires Node 20)")
    return subprocess.run(
        [node, str(RUNNER), *names],
        env={"AUTHFETCH_MPY_TESTS": str(folder), "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )


def test_runner_counts_passes_failures_and_skips(tmp_path: Path):
    """Every kind of test the shim supports runs; failures fail the exit status."""
    (tmp_path / "test_authfetch_sample.py").write_text(SAMPLE)
    result = run_runner(tmp_path)
    out = result.stdout
    assert result.returncode == 1, out + result.stderr
    assert "MicroPython 1." in out
    assert ": 8 passed, 4 failed, 2 skipped in " in out
    for failed in (
        "test_plain_assert_fails",
        "test_parametrized_once_per_case[2-5]",
        "test_raises_when_nothing_raised_fails",
        "test_asyncio_run_that_can_never_finish_fails_clearly",
    ):
        assert f"FAILED test_authfetch_sample.py::{failed}\n" in out
    assert "SKIPPED test_authfetch_sample.py::test_skipped_by_the_file: needs CPython" in out
    assert "SKIPPED test_authfetch_sample.py::test_skip_inside_a_test: decided at run time" in out
    assert "every task is waiting; nothing can wake" in out


def test_whole_file_opt_out_is_reported_and_passes(tmp_path: Path):
    """``MICROPYTHON = False`` skips a file's tests by name count, visibly."""
    (tmp_path / "test_authfetch_cpython.py").write_text(
        "MICROPYTHON = False\n\ndef test_a():\n    pass\n\ndef test_b():\n    pass\n"
    )
    result = run_runner(tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SKIPPED test_authfetch_cpython.py: all 2 tests (MICROPYTHON = False)" in result.stdout
    assert ": 0 passed, 0 failed, 2 skipped in " in result.stdout


def test_a_file_that_cannot_be_imported_fails(tmp_path: Path):
    """An import error (a module MicroPython lacks) is a failure, not a silent skip."""
    (tmp_path / "test_authfetch_typing.py").write_text(
        "import dataclasses\n\ndef test_a():\n    pass\n"
    )
    result = run_runner(tmp_path)
    assert result.returncode == 1
    assert "FAILED test_authfetch_typing.py: cannot import" in result.stdout

"""Run the core's unit tests under MicroPython (started by ``run.mjs``).

Discovery: every ``test_*`` function of each given module (and ``test_*``
methods of ``Test*`` classes), in name order; a ``pytest.mark.parametrize``d
test runs once per parameter set. Skips are explicit and printed with their
reason, never silent:

- a module-level ``MICROPYTHON = False`` skips the whole file;
- a module-level ``MICROPYTHON_SKIP = {"test_name": "reason"}`` skips those tests;
- :data:`SKIP` below (``"file.py::test_name": "reason"``) skips tests from here;
- ``pytest.skip(reason)`` inside a test.

``asyncio.run`` is replaced by :func:`run`, which drives MicroPython's asyncio
scheduler (the WebAssembly port's runs on JavaScript timers and has no ``run``)
until the coroutine is done. A file that cannot be imported counts as one
failure.
"""

import asyncio
import sys
import time
from asyncio import core

import pytest

#: Tests skipped by the runner: "file.py::test_name" -> reason. Empty: all run.
SKIP = {}
#: Longest a single ``asyncio.run`` may take (real time; the tests use fake clocks).
RUN_LIMIT_MS = 20_000


def _drop_leftover_tasks():
    """Forget tasks an earlier run left scheduled (CPython's asyncio.run cancels them)."""
    while core._task_queue.peek() is not None:
        core._task_queue.pop()


def run(coroutine):
    """``asyncio.run``: run ``coroutine`` to completion on MicroPython's scheduler."""
    outcome = {}

    async def main():
        try:
            outcome["value"] = await coroutine
        except BaseException as error:
            outcome["error"] = error

    _drop_leftover_tasks()
    task = asyncio.create_task(main())
    started = time.ticks_ms()
    while not outcome:
        if core._task_queue.peek() is None:
            raise RuntimeError("asyncio.run stand-in: every task is waiting; nothing can wake")
        if time.ticks_diff(time.ticks_ms(), started) > RUN_LIMIT_MS:
            raise RuntimeError(f"asyncio.run stand-in: not done after {RUN_LIMIT_MS} ms")
        core._run_iter()
    _drop_leftover_tasks()
    del task
    if "error" in outcome:
        raise outcome["error"]
    return outcome["value"]


asyncio.run = run


def _cases(name, test):
    """(id, callable) for each run of one collected test."""
    if isinstance(test, pytest.Parametrized):
        return [
            (f"{name}[{case_id}]", (lambda kwargs=kwargs: test.function(**kwargs)))
            for case_id, kwargs in test.cases
        ]
    return [(name, test)]


def collect(module):
    """(name, callable) for every test of ``module``, in name order."""
    tests = []
    for name in sorted(dir(module)):
        value = getattr(module, name)
        if name.startswith("test_") and (callable(value) or isinstance(value, pytest.Parametrized)):
            tests += _cases(name, value)
        elif name.startswith("Test") and isinstance(value, type):
            for method in sorted(dir(value)):
                if method.startswith("test_"):
                    bound = getattr(value(), method)
                    tests += _cases(name + "::" + method, bound)
    return tests


class Tally:
    """Counts of one run."""

    def __init__(self):
        self.passed = 0
        self.failed = 0
        self.skipped = 0
        self.failures = []


def run_file(file_name, tally):
    """Import one test file and run its tests into ``tally``."""
    module_name = file_name[:-3]
    try:
        module = __import__(module_name)
    except BaseException as error:
        tally.failed += 1
        tally.failures.append(file_name + " (import)")
        print(f"FAILED {file_name}: cannot import")
        sys.print_exception(error)
        return
    tests = collect(module)
    if getattr(module, "MICROPYTHON", True) is False:
        tally.skipped += len(tests)
        print(f"SKIPPED {file_name}: all {len(tests)} tests (MICROPYTHON = False)")
        return
    file_skips = getattr(module, "MICROPYTHON_SKIP", {})
    counts = [0, 0, 0]
    for test_id, test in tests:
        base = test_id.split("[", 1)[0]
        reason = file_skips.get(base) or SKIP.get(file_name + "::" + base)
        if reason:
            counts[2] += 1
            print(f"SKIPPED {file_name}::{test_id}: {reason}")
            continue
        try:
            test()
        except pytest.Skipped as skipped:
            counts[2] += 1
            print(f"SKIPPED {file_name}::{test_id}: {skipped}")
            continue
        except BaseException as error:
            counts[1] += 1
            tally.failures.append(file_name + "::" + test_id)
            print(f"FAILED {file_name}::{test_id}")
            sys.print_exception(error)
            continue
        counts[0] += 1
    tally.passed += counts[0]
    tally.failed += counts[1]
    tally.skipped += counts[2]
    passed, failed, skipped = counts
    print(f"{file_name}: {passed} passed, {failed} failed, {skipped} skipped")


def main(file_names):
    """Run every file; print the summary line; the number of failures."""
    tally = Tally()
    started = time.ticks_ms()
    for file_name in file_names:
        run_file(file_name, tally)
    elapsed = time.ticks_diff(time.ticks_ms(), started)
    version = ".".join(str(part) for part in sys.implementation.version[:3])
    counts = f"{tally.passed} passed, {tally.failed} failed, {tally.skipped} skipped"
    print(f"MicroPython {version}: {counts} in {elapsed} ms")
    for failure in tally.failures:
        print("  failed: " + failure)
    return tally.failed

"""Single flight: one refresh at a time, run by the gate itself, shared by every caller."""

import asyncio

from .errors import RefreshUnavailableError


class _Flight:
    """One run of the gate: an event plus the error it ended with, if any."""

    def __init__(self) -> None:
        self.done = asyncio.Event()
        self.error: BaseException | None = None


class RefreshGate:
    """Run at most one refresh at a time (single flight), owned by no caller.

    The first caller of :meth:`run` starts the action as a task of the gate's
    own; every caller — the first included — then waits for that task's end
    and sees the same outcome (``None``, or the same exception raised in each
    of them). So a caller that is cancelled (``wait_for``, ``task.cancel()``)
    stops waiting without cancelling the refresh the others share: the
    rotation's answer is never lost. The flight ends in a ``finally``, so no
    flag can get stuck. Only ``asyncio.Event`` and ``create_task`` are used
    (MicroPython has no ``asyncio.Future``).
    """

    def __init__(self) -> None:
        self._flight: _Flight | None = None
        self._task: asyncio.Task | None = None
        self.runs = 0

    @property
    def busy(self) -> bool:
        """Tell whether a refresh is in flight."""
        return self._flight is not None

    async def run(self, action: "Callable[[], Awaitable[object]]") -> None:
        """Start ``action()`` unless one is in flight, then wait for the flight to end.

        Raises the flight's exception, if it ended with one.
        """
        flight = self._flight
        if flight is None:
            flight = self._flight = _Flight()
            self.runs += 1
            self._task = asyncio.create_task(self._fly(flight, action))
        await flight.done.wait()
        if flight.error is not None:
            raise flight.error

    async def _fly(self, flight: _Flight, action: "Callable[[], Awaitable[object]]") -> None:
        """Run the action; publish its outcome to every waiter."""
        try:
            await action()
        except Exception as exc:
            flight.error = exc
        except BaseException as exc:  # the page is going away: tell the waiters, then stop
            flight.error = RefreshCancelled("the refresh was cancelled")
            raise exc
        finally:
            self._flight = None
            self._task = None
            flight.done.set()


async def run_detached(coroutine: "Coroutine[Any, Any, Any]") -> "Any":
    """Run ``coroutine`` as a task of its own and wait for it; its result or its exception.

    Cancelling the caller stops only the waiting, never the work (like
    ``asyncio.shield``, which MicroPython does not have): a logout the page
    gave up waiting for still clears the store everywhere.
    """
    done = asyncio.Event()
    outcome: dict = {}

    async def work() -> None:
        try:
            outcome["value"] = await coroutine
        except Exception as exc:
            outcome["error"] = exc
        finally:
            done.set()

    task = asyncio.create_task(work())
    await done.wait()
    del task
    if "error" in outcome:
        raise outcome["error"]
    return outcome.get("value")


class RefreshCancelled(RefreshUnavailableError):
    """The refresh task itself was cancelled (the page is going away); the session is kept."""


TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable, Coroutine
    from typing import Any

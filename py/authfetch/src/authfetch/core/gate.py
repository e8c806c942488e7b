"""Single-flight gate: one refresh at a time, every caller shares its outcome."""

import asyncio

from .errors import RefreshUnavailableError


class _Flight:
    """One run of the gate: an event plus the result or error it ended with."""

    def __init__(self) -> None:
        self.done = asyncio.Event()
        self.result: object = None
        self.error: BaseException | None = None


class RefreshGate:
    """Run at most one refresh at a time (single flight).

    The first caller of :meth:`run` leads and runs the action; callers that
    arrive while it runs wait for the same outcome: the same result, or the
    same exception raised in each of them. The gate is released in a
    ``finally`` (success, error or cancellation), so no flag can get stuck.
    Only ``asyncio.Event`` is used (MicroPython has no ``asyncio.Future``).
    """

    def __init__(self) -> None:
        self._flight: _Flight | None = None
        self.runs = 0

    @property
    def busy(self) -> bool:
        """Tell whether a refresh is in flight."""
        return self._flight is not None

    async def run(self, action: object) -> object:
        """Lead ``await action()`` or join the one in flight; return its result."""
        flight = self._flight
        if flight is not None:
            await flight.done.wait()
            if flight.error is not None:
                raise flight.error
            return flight.result
        return await self._lead(action)

    async def _lead(self, action: object) -> object:
        """Run the action as leader and publish its outcome to the waiters."""
        flight = self._flight = _Flight()
        self.runs += 1
        try:
            flight.result = await action()
            return flight.result
        except Exception as exc:
            flight.error = exc
            raise
        except BaseException:
            flight.error = RefreshUnavailableError("refresh was cancelled")
            raise
        finally:
            self._flight = None
            flight.done.set()

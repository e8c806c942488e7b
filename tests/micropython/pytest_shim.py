"""A tiny stand-in for pytest under MicroPython: what the core's unit tests use.

Installed in MicroPython's filesystem as ``pytest`` by ``run.mjs``. Supports
``pytest.raises`` (as a context manager, with ``match``, or called with a
function), ``pytest.mark.parametrize`` (stackable; it wraps the function,
because MicroPython functions cannot carry attributes), ``pytest.approx`` and
``pytest.skip``. Anything else raises ``AttributeError`` at import of the test
file, which the runner reports as that file's failure.
"""

import re


class Skipped(Exception):
    """``pytest.skip(reason)`` was called: the test is counted as skipped."""


def skip(reason=""):
    """Skip the running test."""
    raise Skipped(reason)


class ExceptionInfo:
    """What ``pytest.raises`` caught: ``.type`` and ``.value``."""

    def __init__(self):
        self.type = None
        self.value = None


class RaisesContext:
    """``with pytest.raises(Expected, match=...) as info:``."""

    def __init__(self, expected, match=None):
        self.expected = expected
        self.match = match
        self.info = ExceptionInfo()

    def __enter__(self):
        return self.info

    def __exit__(self, kind, value, traceback):
        if kind is None:
            raise AssertionError("DID NOT RAISE " + _names(self.expected))
        if not _is_expected(value, self.expected):
            return False
        if self.match is not None and re.search(self.match, str(value)) is None:
            raise AssertionError(f"Regex {self.match!r} does not match {str(value)!r}")
        self.info.type = type(value)
        self.info.value = value
        return True


def _names(expected):
    """The expected exception class(es) as text."""
    if isinstance(expected, tuple):
        return " or ".join(kind.__name__ for kind in expected)
    return expected.__name__


def _is_expected(value, expected):
    """Is ``value`` an instance of ``expected`` (a class or a tuple of classes)?"""
    kinds = expected if isinstance(expected, tuple) else (expected,)
    return any(isinstance(value, kind) for kind in kinds)


def raises(expected, *args, match=None, **kwargs):
    """``pytest.raises``: a context manager, or ``raises(Expected, func, *args)``."""
    context = RaisesContext(expected, match)
    if not args:
        return context
    with context:
        args[0](*args[1:], **kwargs)
    return context.info


class Approx:
    """``pytest.approx``: equal within ``rel`` (relative) or ``abs`` (absolute)."""

    def __init__(self, expected, rel=1e-6, abs=1e-12):
        self.expected = expected
        self.rel = rel
        self.abs = abs

    def _close(self, actual, expected):
        """One number against one expected number."""
        return actual == expected or _abs(actual - expected) <= max(
            self.rel * _abs(expected), self.abs
        )

    def __eq__(self, actual):
        expected = self.expected
        if isinstance(expected, (list, tuple)):
            if not isinstance(actual, (list, tuple)) or len(actual) != len(expected):
                return False
            return all(self._close(a, e) for a, e in zip(actual, expected))  # noqa: B905 - lengths checked; no strict= here
        if isinstance(expected, dict):
            if not isinstance(actual, dict) or set(actual) != set(expected):
                return False
            return all(self._close(actual[key], expected[key]) for key in expected)
        return self._close(actual, expected)

    def __ne__(self, actual):
        return not self.__eq__(actual)

    def __repr__(self):
        return f"approx({self.expected!r})"


def _abs(number):
    """``abs()``, which the ``abs`` keyword of :class:`Approx` shadows there."""
    return number if number >= 0 else -number


def approx(expected, rel=1e-6, abs=1e-12):
    """``pytest.approx``."""
    return Approx(expected, rel, abs)


class Parametrized:
    """A test function with its parameter sets (``cases``: a list of (id, kwargs))."""

    def __init__(self, function, cases):
        self.function = function
        self.cases = cases

    def __call__(self, **kwargs):
        return self.function(**kwargs)


def _parametrize(names, values, ids=None):
    """``pytest.mark.parametrize(names, values, ids=None)``; stacks like pytest's."""
    if isinstance(names, str):
        names = [name.strip() for name in names.split(",") if name.strip()]
    names = list(names)

    def decorate(function):
        inner = function.cases if isinstance(function, Parametrized) else [("", {})]
        target = function.function if isinstance(function, Parametrized) else function
        cases = []
        for index, value in enumerate(values):
            row = value if len(names) > 1 else (value,)
            case_id = ids[index] if ids else "-".join(_case_id(item) for item in row)
            for inner_id, inner_kwargs in inner:
                kwargs = dict(inner_kwargs)
                kwargs.update(zip(names, row))  # noqa: B905 - MicroPython's zip has no strict=
                joined = case_id + ("-" + inner_id if inner_id else "")
                cases.append((joined, kwargs))
        return Parametrized(target, cases)

    return decorate


def _case_id(value):
    """A readable id for one parameter value, like pytest's."""
    if isinstance(value, (int, float, str, bool)) or value is None:
        return str(value)
    return type(value).__name__


class _Mark:
    """``pytest.mark``: only ``parametrize`` is supported."""

    parametrize = staticmethod(_parametrize)


mark = _Mark()

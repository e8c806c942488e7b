"""Base64 for the whole library, in linear time on both interpreters.

MicroPython's ``import binascii`` finds a frozen pure-Python module (from
micropython-lib) whose encoder builds its result by concatenation: 2.5 * n * n
bytes of garbage for n bytes (a 10 KB body: 284 ms; 50 KB: ``MemoryError``).
The interpreter's own C module is ``ubinascii``: this module uses it where it
exists, CPython's ``binascii`` elsewhere. Every base64 of the library goes
through here (one place to get it right).
"""

try:  # MicroPython: the C module
    import ubinascii as binascii  # type: ignore[import-not-found]
except ImportError:  # CPython (Pyodide)
    import binascii


def b64(data: bytes) -> str:
    """Standard base64 text of ``data`` (padded, no newline)."""
    return binascii.b2a_base64(data).decode().strip()


def unb64(text: str) -> bytes:
    """The bytes of standard base64 ``text``; ``ValueError`` if it is not base64."""
    try:
        return bytes(binascii.a2b_base64(text.encode()))
    except (ValueError, TypeError) as exc:  # binascii.Error is a ValueError
        raise ValueError("not base64: " + str(exc))  # noqa: B904


def b64url(data: bytes) -> str:
    """Base64url without padding (RFC 7515 section 2; RFC 7636 appendix A)."""
    return b64(data).replace("+", "-").replace("/", "_").replace("=", "")


def unb64url(text: str) -> bytes:
    """The bytes of base64url ``text`` (padding optional); ``ValueError`` if malformed."""
    text = text.replace("-", "+").replace("_", "/")
    return unb64(text + "=" * (-len(text) % 4))

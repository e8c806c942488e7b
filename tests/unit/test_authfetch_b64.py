"""Base64 in linear time on both interpreters (MicroPython's frozen ``binascii`` is not).

Runs on CPython and MicroPython alike.
"""

import time

from authfetch.core.b64 import b64, b64url, unb64, unb64url

#: A request body of a size pages send (an upload, a form with a file).
LARGE = 200_000


def test_round_trips_at_every_padding():
    """Standard and url-safe base64 round-trip 0 to 40 bytes (every padding case)."""
    for size in range(41):
        data = bytes((index * 37 + size) % 256 for index in range(size))
        assert unb64(b64(data)) == data
        assert unb64url(b64url(data)) == data
        assert "=" not in b64url(data) and "\n" not in b64(data)


def test_known_values():
    """The RFC 4648 examples, and base64url's alphabet."""
    assert b64(b"foobar") == "Zm9vYmFy" and b64(b"fo") == "Zm8="
    assert b64url(bytes([251, 255])) == "-_8" and unb64url("-_8") == bytes([251, 255])


def test_a_large_body_round_trips_in_linear_time():
    """200 KB (a body crossing MicroPython's FFI) round-trips in well under a second; the
    frozen pure-Python binascii ran out of memory on 50 KB."""
    data = bytes(index % 251 for index in range(LARGE))
    start = time.time()
    assert unb64(b64(data)) == data
    assert time.time() - start < 1.0


def test_not_base64_is_a_value_error():
    """Text that is not base64 raises ``ValueError``."""
    for text in ("a", "abcde"):
        try:
            unb64(text)
        except ValueError:
            continue
        raise AssertionError("accepted " + repr(text))

"""The DPoP keys in the browser: made by WebCrypto, kept in IndexedDB, shared by every tab.

The core decides and builds every proof (:mod:`authfetch.core.dpop`); this
module only makes, uses and deletes keys, through the JavaScript helpers
(``dpopCreate``, ``dpopKeep``, ``dpopSign``, ``dpopPrune`` in :mod:`.jshelpers`).
A key pair is ECDSA P-256, made with ``extractable = false``: no script, the
page's own included, can read its private half; IndexedDB keeps the
``CryptoKey`` itself, so every tab of the origin signs with the same key, and
a reload keeps it. Keys are grouped under the session's storage key.

A key is made for each sign-in, in the tab that signs in (one sign-in, one key:
no two tabs ever make a key for the same session); the tokens record its public
half (``TokenSet.dpop_jwk``), so another tab finds the key by its thumbprint.
Without IndexedDB or WebCrypto (a page that is not a secure context) the
sign-in fails with :class:`~authfetch.core.DPoPError` naming the cause, and
nothing is stored.
"""

import json

from authfetch.core import DPoPError, thumbprint
from authfetch.web.ffi import H

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any


def _answer(text: "Any") -> "Any":
    """The value of a helper's JSON answer; its error as :class:`DPoPError`."""
    answer = json.loads(str(text))
    if not answer.get("ok"):
        raise DPoPError("DPoP key store: " + str(answer.get("error")))
    return answer.get("value")


class BrowserKeys:
    """The DPoP keys of the session stored under ``prefix`` (the storage key)."""

    def __init__(self, prefix: str) -> None:
        """Keep keys under ``prefix``."""
        self.prefix = prefix

    async def create(self) -> dict:
        """Make a non-extractable key pair, keep it for every tab; its public JWK."""
        made = _answer(await H.dpopCreate())
        jwk = made["jwk"]
        _answer(await H.dpopKeep(self.prefix, thumbprint(jwk), made["handle"]))
        return jwk

    async def sign(self, jkt: str, data: str) -> str:
        """The ES256 signature (r || s) of the text ``data`` with the kept key ``jkt``, as
        base64url text. Text both ways: JavaScript encodes and signs, so no bytes cross
        the FFI (MicroPython converts bytes slowly)."""
        return self.signature(await self.start_signing(jkt, data))

    def start_signing(self, jkt: str, data: str) -> "Any":
        """The JS promise of :meth:`sign`'s answer (for the promise-chained driver)."""
        return H.dpopSign(self.prefix, jkt, data)

    @staticmethod
    def signature(answer: "Any") -> str:
        """The signature in a settled :meth:`start_signing` answer; ``DPoPError`` if none."""
        return str(_answer(answer))

    async def prune(self, keep: "list[str]", young: bool) -> None:
        """Delete every kept key but ``keep`` (``young``: spare keys made lately)."""
        _answer(await H.dpopPrune(self.prefix, json.dumps(keep), bool(young)))

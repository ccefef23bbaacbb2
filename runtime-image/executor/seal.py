"""Sealed invocations: what the invoker sends only the runtime can read, and only the
runtime can answer.

Why: inside a Lambda environment everything runs as one uid and the Runtime
API answers anyone, so a script with native code can, during its own
execution, ask /next for the environment's next invocation and post an
answer to it. Tenant isolation keeps that within one tenant; sealing keeps
it from mattering there too. The invoker and the runtime share a key that
no worker ever holds (the runtime reads it at init, before the template is
forked, zeroes every copy it can and is not dumpable). A script that takes
a sealed invocation sees ciphertext, and an answer it posts carries no valid
tag, so the invoker refuses it and asks again.

Construction (contract/README.md, "Sealed invocations"), standard library only:
keys are HMAC-SHA256 of the shared secret with a label each; the request is
XORed with SHAKE-256(encryption key || nonce) and authenticated with
HMAC-SHA256(request key, "v1" || nonce || ciphertext) (encrypt-then-MAC);
the response bytes R are returned as
{"sealedResponse":"v1","tag":"<base64 HMAC-SHA256(response key, nonce || R)>","response":R}.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
from typing import Any, Optional

VERSION = "v1"
NONCE_BYTES = 16
MIN_SECRET_CHARS = 32
_LABEL = b"secure-python-executor seal v1 "


class SealError(Exception):
    """A sealed request that cannot be opened; the message says why."""


def derive_keys(secret: bytes) -> tuple[bytes, bytes, bytes]:
    master = hashlib.sha256(secret).digest()
    return tuple(hmac.new(master, _LABEL + label, hashlib.sha256).digest()  # type: ignore[return-value]
                 for label in (b"encrypt", b"request", b"response"))


def _keystream(key: bytes, nonce: bytes, length: int) -> bytes:
    return hashlib.shake_256(key + nonce).digest(length)


def _xor(data: bytes, stream: bytes) -> bytes:
    return (int.from_bytes(data, "big") ^ int.from_bytes(stream, "big")).to_bytes(len(data), "big")


class Sealer:
    def __init__(self, secret: bytes) -> None:
        self._encrypt, self._request, self._response = derive_keys(secret)

    @staticmethod
    def is_sealed(event: Any) -> bool:
        return isinstance(event, dict) and "sealed" in event

    def open(self, event: dict[str, Any]) -> tuple[Any, bytes]:
        """(the inner event, the nonce to sign the answer with)."""
        try:
            if event.get("sealed") != VERSION:
                raise SealError(f"unknown seal version {event.get('sealed')!r}")
            nonce = base64.b64decode(event["nonce"], validate=True)
            ciphertext = base64.b64decode(event["ciphertext"], validate=True)
            mac = base64.b64decode(event["mac"], validate=True)
        except (KeyError, TypeError, binascii.Error) as error:
            raise SealError(f"the sealed request is malformed ({error})") from None
        if len(nonce) != NONCE_BYTES:
            raise SealError("the sealed request's nonce has the wrong length")
        expected = hmac.new(self._request, VERSION.encode() + nonce + ciphertext,
                            hashlib.sha256).digest()
        if not hmac.compare_digest(expected, mac):
            raise SealError("the sealed request failed its integrity check (the invoker and the "
                            "executor hold different keys, or it was altered)")
        plaintext = _xor(ciphertext, _keystream(self._encrypt, nonce, len(ciphertext)))
        try:
            return json.loads(plaintext.decode("utf-8")), nonce
        except (UnicodeDecodeError, ValueError) as error:
            raise SealError(f"the sealed request does not hold JSON ({error})") from None

    def seal(self, event: Any, nonce: bytes) -> dict[str, str]:
        """The invoker's side, for tests and tools written in Python."""
        plaintext = json.dumps(event, separators=(",", ":")).encode()
        ciphertext = _xor(plaintext, _keystream(self._encrypt, nonce, len(plaintext)))
        mac = hmac.new(self._request, VERSION.encode() + nonce + ciphertext, hashlib.sha256).digest()
        return {"sealed": VERSION, "nonce": base64.b64encode(nonce).decode(),
                "ciphertext": base64.b64encode(ciphertext).decode(),
                "mac": base64.b64encode(mac).decode()}

    def sign(self, response: bytes, nonce: bytes) -> bytes:
        tag = hmac.new(self._response, nonce + response, hashlib.sha256).digest()
        return (b'{"sealedResponse":"' + VERSION.encode() + b'","tag":"'
                + base64.b64encode(tag) + b'","response":' + response + b"}")

    def verify(self, payload: bytes, nonce: bytes) -> Optional[bytes]:
        """The response bytes if payload is this runtime's signed answer to nonce, else None."""
        prefix = b'{"sealedResponse":"' + VERSION.encode() + b'","tag":"'
        middle = b'","response":'
        if not payload.startswith(prefix) or not payload.endswith(b"}"):
            return None
        tag_end = payload.find(middle, len(prefix))
        if tag_end < 0:
            return None
        try:
            tag = base64.b64decode(payload[len(prefix):tag_end], validate=True)
        except binascii.Error:
            return None
        response = payload[tag_end + len(middle):-1]
        expected = hmac.new(self._response, nonce + response, hashlib.sha256).digest()
        return response if hmac.compare_digest(expected, tag) else None


def from_secret(value: Optional[str]) -> Optional[Sealer]:
    if not value:
        return None
    if len(value) < MIN_SECRET_CHARS:
        raise SealError(f"EXECUTOR_SEAL_KEY must be at least {MIN_SECRET_CHARS} characters")
    return Sealer(value.encode("utf-8"))

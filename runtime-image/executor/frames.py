"""The result pipe's framing: one kind byte, a 4-byte big-endian length, the payload.

The worker writes frames; the runtime reads them. Payloads are UTF-8 JSON.
The script's own output never travels here (it has stdout and stderr), so a
frame the runtime cannot parse means the script wrote into this channel.
"""

from __future__ import annotations

import enum
import json
import struct
from typing import Any, Optional

_HEADER = struct.Struct(">cI")
HEADER_BYTES = _HEADER.size


class FrameKind(enum.Enum):
    READY = b"Y"          # the sandbox is set up; payload {}
    SETUP_FAILED = b"F"   # payload {"error": sentence}
    RESULT = b"R"         # payload: the encoded result value
    ERROR = b"E"          # payload {"errorType", "error", "traceback"}


def encode(kind: FrameKind, payload: bytes) -> bytes:
    return _HEADER.pack(kind.value, len(payload)) + payload


def take(buffer: bytearray) -> Optional[tuple[Optional[FrameKind], bytes]]:
    """Remove and return the first whole frame of buffer, or None if it is incomplete.

    An unknown kind byte comes back as (None, payload).
    """
    if len(buffer) < HEADER_BYTES:
        return None
    raw_kind, length = _HEADER.unpack(bytes(buffer[:HEADER_BYTES]))
    if len(buffer) < HEADER_BYTES + length:
        return None
    payload = bytes(buffer[HEADER_BYTES:HEADER_BYTES + length])
    del buffer[:HEADER_BYTES + length]
    try:
        return FrameKind(raw_kind), payload
    except ValueError:
        return None, payload


def json_field(payload: bytes, name: str) -> Optional[str]:
    """A string field of a JSON object payload, or None for anything malformed."""
    try:
        value = json.loads(payload.decode("utf-8")).get(name)
    except (ValueError, AttributeError, RecursionError):
        return None
    return value if isinstance(value, str) else None


def json_object(payload: bytes) -> Optional[dict[str, Any]]:
    try:
        value = json.loads(payload.decode("utf-8"))
    except (ValueError, RecursionError):
        return None
    return value if isinstance(value, dict) else None

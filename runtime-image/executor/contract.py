"""The request/response contract, mirroring contract/README.md and requests.json.

The TypeScript validator (contract/validate.ts) and this one are run against the same
fixtures, so the order of checks and every sentence here must stay in step
with it.
"""

from __future__ import annotations

import dataclasses
import json
import math
from typing import Any

from .limits import MAX_NESTING_DEPTH, Limits

ERROR_TYPES: tuple[str, ...] = (
    "InvalidRequest",
    "RequestTooLarge",
    "ScriptError",
    "Timeout",
    "MemoryLimit",
    "OutputLimit",
    "ResultNotSerializable",
    "ResultTooLarge",
    "PolicyViolation",
    "InternalError",
)

ALLOWED_FIELDS = ("script", "input", "timeoutMs")
NOT_JSON = "Request body is not valid JSON"
NOT_UTF8 = "Request body is not valid UTF-8"
TOO_DEEP = f"Request body must not be nested more than {MAX_NESTING_DEPTH} levels deep"


class ContractError(Exception):
    """A request the contract rejects; the message is the caller-facing sentence."""

    def __init__(self, error_type: str, message: str) -> None:
        super().__init__(message)
        self.error_type = error_type
        self.message = message


@dataclasses.dataclass(frozen=True)
class Request:
    script: str
    has_input: bool
    input: Any
    timeout_ms: int


def nesting_depth(value: Any) -> int:
    """Depth of a parsed JSON value; containers count one level each, scalars none.

    Iterative so that a hostile value cannot exhaust the parent's stack.
    """
    deepest = 0
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        item, level = stack.pop()
        if isinstance(item, dict):
            deepest = max(deepest, level)
            stack.extend((child, level + 1) for child in item.values())
        elif isinstance(item, list):
            deepest = max(deepest, level)
            stack.extend((child, level + 1) for child in item)
    return deepest


def parse_body(raw: bytes) -> Any:
    """Decode a request body as the HTTP layers do: UTF-8, JSON, bounded depth."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise ContractError("InvalidRequest", NOT_UTF8) from None
    try:
        return json.loads(text)
    except RecursionError:
        # The C scanner gives up far beyond 64 levels; the answer is the same.
        raise ContractError("InvalidRequest", TOO_DEEP) from None
    except ValueError:
        raise ContractError("InvalidRequest", NOT_JSON) from None


def encoded_size(value: Any) -> int:
    """Bytes of the compact JSON encoding in UTF-8, as JSON.stringify would write it.

    Lone surrogates are counted as their six-character escapes, which is what
    JavaScript's well-formed JSON.stringify emits.
    """
    text = json.dumps(value, ensure_ascii=False, separators=(",", ":"), allow_nan=True)
    return len(text.encode("utf-8", "backslashreplace"))


def validate_request(body: Any, limits: Limits) -> Request:
    """Check a caller's request; raises ContractError with the contract's sentence."""
    if not isinstance(body, dict):
        raise ContractError("InvalidRequest", "Request body must be a JSON object")
    if encoded_size(body) > limits.max_request_bytes:
        raise ContractError(
            "RequestTooLarge",
            f"Request body must be at most {limits.max_request_bytes} bytes",
        )
    if nesting_depth(body) > MAX_NESTING_DEPTH:
        raise ContractError("InvalidRequest", TOO_DEEP)
    # Before unknown fields, as in contract/validate.ts: `{"code": ...}`
    # is told what it lacks in the seeds' wording.
    if "script" not in body:
        raise ContractError("InvalidRequest", "'script' field is required")
    unknown = sorted(key for key in body if key not in ALLOWED_FIELDS)
    if unknown:
        raise ContractError(
            "InvalidRequest",
            f"Unknown field '{unknown[0]}'; allowed fields are 'script', 'input' and 'timeoutMs'",
        )
    script = body["script"]
    if not isinstance(script, str):
        raise ContractError("InvalidRequest", "'script' must be a string")
    if script.strip() == "":
        raise ContractError("InvalidRequest", "'script' must not be empty")
    try:
        script_bytes = len(script.encode("utf-8"))
    except UnicodeEncodeError:
        raise ContractError("InvalidRequest", "'script' must be valid Unicode text") from None
    if script_bytes > limits.max_script_bytes:
        raise ContractError(
            "RequestTooLarge",
            f"'script' must be at most {limits.max_script_bytes} bytes of UTF-8",
        )
    timeout_ms = limits.default_timeout_ms
    if "timeoutMs" in body:
        raw_timeout = body["timeoutMs"]
        # bool is an int subclass in Python; JSON true is not a number.
        if isinstance(raw_timeout, bool) or not isinstance(raw_timeout, (int, float)):
            raise ContractError("InvalidRequest", "'timeoutMs' must be an integer")
        if isinstance(raw_timeout, float) and not (
            math.isfinite(raw_timeout) and raw_timeout.is_integer()
        ):
            raise ContractError("InvalidRequest", "'timeoutMs' must be an integer")
        timeout_ms = int(raw_timeout)
        if not limits.min_timeout_ms <= timeout_ms <= limits.max_timeout_ms:
            raise ContractError(
                "InvalidRequest",
                f"'timeoutMs' must be between {limits.min_timeout_ms} and "
                f"{limits.max_timeout_ms} milliseconds",
            )
    return Request(
        script=script,
        has_input="input" in body,
        input=body.get("input"),
        timeout_ms=timeout_ms,
    )


def empty_response(request_id: str) -> dict[str, Any]:
    """Every key of a response, in the contract's order, before anything happened."""
    return {
        "ok": False,
        "result": None,
        "stdout": "",
        "stderr": "",
        "truncated": {"stdout": False, "stderr": False, "artifacts": False},
        "error": None,
        "errorType": None,
        "traceback": None,
        "artifacts": [],
        "durationMs": 0,
        "requestId": request_id,
    }


def error_response(request_id: str, error_type: str, message: str) -> dict[str, Any]:
    response = empty_response(request_id)
    response["errorType"] = error_type
    response["error"] = message
    return response

"""Turn a script's return value into JSON text, in the worker, after the script.

The worker encodes with this module rather than `json.dumps` because user
code runs first in the same interpreter and may have replaced `json.dumps`,
`json.JSONEncoder` or the module itself. Every function this encoder relies
on is bound when the module is imported, which happens in the parent before
any user code exists, and builtin methods (`float.__repr__`) cannot be
patched from Python.
"""

from __future__ import annotations

import datetime
import decimal
import math
import sys
import uuid
from json.encoder import encode_basestring as _quote  # type: ignore[attr-defined]
from json.encoder import encode_basestring_ascii as _quote_ascii  # type: ignore[attr-defined]
from typing import Any, Callable

# Results are parsed again by the parent, the invoker and the caller; a bound
# well below any parser's stack keeps all of them safe.
MAX_RESULT_DEPTH = 512

_float_repr: Callable[[float], str] = float.__repr__
_int_repr: Callable[[int], str] = int.__repr__
_isfinite = math.isfinite
_isnan = math.isnan
_modules = sys.modules


class EncodingError(Exception):
    """The value cannot become JSON; error_type is ResultNotSerializable or ResultTooLarge."""

    def __init__(self, error_type: str, message: str) -> None:
        super().__init__(message)
        self.error_type = error_type
        self.message = message


def _not_serializable(detail: str) -> EncodingError:
    return EncodingError(
        "ResultNotSerializable", f"Return value is not JSON-serializable: {detail}"
    )


class _Encoder:
    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self.size = 0
        self.parts: list[str] = []
        self.active: set[int] = set()

    def emit(self, text: str, byte_length: int) -> None:
        self.size += byte_length
        if self.size > self.max_bytes:
            raise EncodingError(
                "ResultTooLarge",
                f"Return value is too large: its JSON encoding exceeds {self.max_bytes} bytes",
            )
        self.parts.append(text)

    def string(self, value: str) -> None:
        if value.isascii():
            quoted = _quote_ascii(value)
            self.emit(quoted, len(quoted))
            return
        try:
            quoted = _quote(value)
            self.emit(quoted, len(quoted.encode("utf-8")))
        except UnicodeEncodeError:
            # A lone surrogate has no UTF-8 form; its \\uXXXX escape is still JSON.
            quoted = _quote_ascii(value)
            self.emit(quoted, len(quoted))

    def number(self, value: float, missing_as_null: bool) -> None:
        if _isfinite(value):
            text = _float_repr(value)
        elif missing_as_null and _isnan(value):
            # pandas uses NaN for "missing"; its own to_json writes null.
            text = "null"
        else:
            raise _not_serializable(
                f"Out of range float values are not JSON compliant: {_float_repr(value)}"
            )
        self.emit(text, len(text))

    def key(self, key: Any) -> str:
        if isinstance(key, str):
            return key
        if key is True:
            return "true"
        if key is False:
            return "false"
        if key is None:
            return "null"
        if isinstance(key, int):
            return _int_repr(key)
        if isinstance(key, float):
            if not _isfinite(key):
                raise _not_serializable(
                    f"Out of range float values are not JSON compliant: {_float_repr(key)}"
                )
            return _float_repr(key)
        converted = _convert_scalar(key)
        if converted is not _NOTHING and isinstance(converted, (str, int, float)):
            return self.key(converted)
        raise _not_serializable(
            f"keys must be str, int, float, bool or None, not {type(key).__name__}"
        )

    def value(self, value: Any, depth: int, missing_as_null: bool) -> None:
        if depth > MAX_RESULT_DEPTH:
            raise _not_serializable(f"it is nested more than {MAX_RESULT_DEPTH} levels deep")
        if value is None:
            self.emit("null", 4)
        elif value is True:
            self.emit("true", 4)
        elif value is False:
            self.emit("false", 5)
        elif isinstance(value, str):
            self.string(value)
        elif isinstance(value, int):
            try:
                text = _int_repr(value)
            except ValueError as error:
                raise _not_serializable(str(error)) from None
            self.emit(text, len(text))
        elif isinstance(value, float):
            self.number(value, missing_as_null)
        elif isinstance(value, (list, tuple)):
            self.container(value, depth, missing_as_null)
        elif isinstance(value, dict):
            self.container(value, depth, missing_as_null)
        else:
            converted, pandas_value = _convert(value)
            if converted is _NOTHING:
                raise _not_serializable(
                    f"Object of type {type(value).__name__} is not JSON serializable"
                )
            if isinstance(converted, (list, tuple, dict)):
                self.container(converted, depth, missing_as_null or pandas_value, marker=value)
            else:
                self.value(converted, depth, missing_as_null or pandas_value)

    def container(
        self, value: Any, depth: int, missing_as_null: bool, marker: Any = None
    ) -> None:
        ident = id(marker if marker is not None else value)
        if ident in self.active:
            raise _not_serializable("Circular reference detected")
        self.active.add(ident)
        if isinstance(value, dict):
            self.emit("{", 1)
            first = True
            for key, item in value.items():
                if not first:
                    self.emit(",", 1)
                first = False
                self.string(self.key(key))
                self.emit(":", 1)
                self.value(item, depth + 1, missing_as_null)
            self.emit("}", 1)
        else:
            self.emit("[", 1)
            first = True
            for item in value:
                if not first:
                    self.emit(",", 1)
                first = False
                self.value(item, depth + 1, missing_as_null)
            self.emit("]", 1)
        self.active.discard(ident)


class _Nothing:
    pass


_NOTHING: Any = _Nothing()


def _convert_scalar(value: Any) -> Any:
    numpy = _modules.get("numpy")
    if numpy is not None and isinstance(value, numpy.generic):
        return value.item()
    return _NOTHING


def _convert(value: Any) -> tuple[Any, bool]:
    """A JSON-ready stand-in for a known non-JSON type, and whether it came from pandas."""
    if isinstance(value, datetime.datetime):
        pandas = _modules.get("pandas")
        if pandas is not None and value is pandas.NaT:
            return None, True
        return value.isoformat(), False
    if isinstance(value, (datetime.date, datetime.time)):
        return value.isoformat(), False
    if isinstance(value, datetime.timedelta):
        # Seconds are the one unit every consumer of JSON agrees on.
        return value.total_seconds(), False
    if isinstance(value, decimal.Decimal):
        if not value.is_finite():
            raise _not_serializable(
                f"Out of range Decimal values are not JSON compliant: {value}"
            )
        return float(value) if value != value.to_integral_value() else int(value), False
    if isinstance(value, uuid.UUID):
        return str(value), False
    numpy = _modules.get("numpy")
    if numpy is not None:
        if isinstance(value, numpy.ndarray):
            return value.tolist(), False
        if isinstance(value, numpy.generic):
            return value.item(), False
    pandas = _modules.get("pandas")
    if pandas is not None:
        if value is pandas.NaT:
            return None, True
        if isinstance(value, pandas.DataFrame):
            frame = value if _default_index(value.index, pandas) else value.reset_index()
            return frame.to_dict(orient="records"), True
        if isinstance(value, pandas.Series):
            if _default_index(value.index, pandas):
                return value.tolist(), True
            return value.to_dict(), True
        if isinstance(value, pandas.Index):
            return value.tolist(), True
    return _NOTHING, False


def _default_index(index: Any, pandas: Any) -> bool:
    return (
        isinstance(index, pandas.RangeIndex)
        and index.start == 0
        and index.step == 1
        and index.name is None
    )


def encode_result(value: Any, max_bytes: int) -> str:
    """The compact JSON text of value; raises EncodingError with a user-facing sentence."""
    encoder = _Encoder(max_bytes)
    try:
        encoder.value(value, 1, False)
    except RecursionError:
        raise _not_serializable(
            f"it is nested more than {MAX_RESULT_DEPTH} levels deep"
        ) from None
    return "".join(encoder.parts)

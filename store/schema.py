"""Small checkers for stored JSON: each returns the value when it has the expected shape, else raises
:class:`SchemaError` with one line that names the field path (``runs[2].latency_ms.p50: ...``).

A file read from a dataset may have been written by an older harness, a person, or an attacker; readers
check it with these before trusting a single field, so one bad file is reported and skipped instead of
taking a page down. The checkers know nothing about records or queue entries: those schemas are written
with them in ``harness.record`` and ``eval_queue.entry``.
"""

from __future__ import annotations

import math
import re
import sys
from collections.abc import Callable, Collection, Mapping
from datetime import datetime
from typing import Any, TypeVar

from store.base import StoreError

__all__ = [
    "MAX_LIST",
    "MAX_STR",
    "SchemaError",
    "at",
    "expect_bool",
    "expect_dict",
    "expect_dict_of",
    "expect_enum",
    "expect_int",
    "expect_list_of",
    "expect_number",
    "expect_numbers",
    "expect_slug",
    "expect_str",
    "expect_timestamp",
    "field_of",
    "show",
]

T = TypeVar("T")

MAX_STR = 10_000  # longest string accepted in any field (error texts and tracebacks included)
MAX_LIST = 100_000  # longest list (latency samples are the long ones)
_INT64 = 2**63  # integers a table column (and every JSON reader) can hold
_SLUG = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")


class SchemaError(StoreError, ValueError):
    """A stored object does not have the expected shape; the message is one line naming the field."""

    def __init__(self, field: str, message: str):
        super().__init__(f"{field}: {message}" if field else message)
        self.field = field


def show(value: Any, limit: int = 40) -> str:
    """A short, single-line rendering of a bad value for an error message (never the whole file)."""
    if isinstance(value, dict):
        return "an object"
    if isinstance(value, list):
        return "a list"
    text = repr(value)
    text = text.replace("\n", "\\n").replace("\r", "\\r")
    return text if len(text) <= limit else text[: limit - 3] + "..."


def at(path: str, key: str | int) -> str:
    """Child field path: ``at("runs", 2)`` -> ``runs[2]``, ``at("runs[2]", "device")`` -> ``runs[2].device``."""
    if isinstance(key, int):
        return f"{path}[{key}]"
    return f"{path}.{key}" if path else key


def _fail(path: str, expected: str, value: Any) -> SchemaError:
    return SchemaError(path, f"expected {expected}, got {show(value)}")


def expect_dict(value: Any, path: str, *, optional: bool = False) -> dict[str, Any] | None:
    if value is None and optional:
        return None
    if not isinstance(value, dict):
        raise _fail(path, "an object", value)
    return value


def field_of(obj: Mapping[str, Any], key: str, path: str, check: Callable[..., T], **kw: Any) -> T:
    """``check(obj.get(key), at(path, key), **kw)``: a missing key reads as None (so optional=True
    accepts it and a required field says ``expected ..., got None``)."""
    return check(obj.get(key), at(path, key), **kw)


def expect_str(
    value: Any,
    path: str,
    *,
    optional: bool = False,
    allow_empty: bool = False,
    max_len: int = MAX_STR,
) -> str | None:
    if value is None and optional:
        return None
    if not isinstance(value, str):
        raise _fail(path, "a string", value)
    if not value and not allow_empty:
        raise SchemaError(path, "expected a non-empty string")
    if len(value) > max_len:
        raise SchemaError(path, f"string longer than {max_len} characters ({len(value)})")
    return value


def expect_slug(value: Any, path: str, *, optional: bool = False) -> str | None:
    """A file-name-safe identifier (letters, digits, ``._-``; at most 128; no ``..``)."""
    if value is None and optional:
        return None
    if not isinstance(value, str) or not _SLUG.match(value) or ".." in value:
        raise _fail(path, "a slug (letters, digits, '._-', at most 128)", value)
    return value


def expect_bool(value: Any, path: str, *, optional: bool = False) -> bool | None:
    if value is None and optional:
        return None
    if not isinstance(value, bool):
        raise _fail(path, "true or false", value)
    return value


def expect_int(
    value: Any,
    path: str,
    *,
    optional: bool = False,
    minimum: int | None = None,
    maximum: int | None = None,
) -> int | None:
    """An integer (JSON ``3``; ``3.0`` is accepted and returned as ``3``; booleans are not numbers)."""
    if value is None and optional:
        return None
    if isinstance(value, float) and math.isfinite(value) and value.is_integer():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int) or abs(value) >= _INT64:
        raise _fail(path, "an integer", value)
    if minimum is not None and value < minimum:
        raise _fail(path, f"an integer >= {minimum}", value)
    if maximum is not None and value > maximum:
        raise _fail(path, f"an integer <= {maximum}", value)
    return value


def expect_number(
    value: Any,
    path: str,
    *,
    optional: bool = False,
    minimum: float | None = 0.0,
    maximum: float | None = None,
) -> float | None:
    """A finite number (int or float, not bool), by default ``>= 0``; ``minimum=None`` allows negatives."""
    if value is None and optional:
        return None
    kind = type(value)
    if kind is float:
        ok = math.isfinite(value)
    else:
        ok = kind is not bool and isinstance(value, int | float) and abs(value) <= sys.float_info.max
        ok = ok and (not isinstance(value, float) or math.isfinite(value))
    if ok and (minimum is None or value >= minimum) and (maximum is None or value <= maximum):
        return value
    bound = "" if minimum is None else f" >= {minimum:g}"
    if maximum is not None:
        bound += f" and <= {maximum:g}"
    raise _fail(path, f"a finite number{bound}", value)


def expect_numbers(
    value: Any, path: str, *, optional: bool = False, minimum: float | None = 0.0, max_items: int = MAX_LIST
) -> list[float] | None:
    """A list of finite numbers (latency samples): :func:`expect_list_of` with ``expect_number``, with a
    fast path for plain floats (a record may hold many thousands)."""
    if value is None and optional:
        return None
    _bounded_list(value, path, max_items)
    low = -math.inf if minimum is None else minimum
    isfinite = math.isfinite
    for i, v in enumerate(value):
        if not (type(v) is float and isfinite(v) and v >= low):
            expect_number(v, at(path, i), minimum=minimum)  # ints pass; anything else raises naming [i]
    return value


def expect_enum(value: Any, path: str, choices: Collection[str], *, optional: bool = False) -> str | None:
    if value is None and optional:
        return None
    if not isinstance(value, str) or value not in choices:
        listed = "|".join(sorted(choices)) if len(choices) <= 12 else f"one of {len(choices)} names"
        raise _fail(path, listed, value)
    return value


def expect_timestamp(value: Any, path: str, *, optional: bool = False) -> str | None:
    """An ISO 8601 timestamp string (``2026-01-02T03:04:05Z`` or with an offset)."""
    if value is None and optional:
        return None
    if not isinstance(value, str) or len(value) > 64:
        raise _fail(path, "an ISO timestamp string", value)
    try:
        datetime.fromisoformat(value.replace("Z", "+00:00") if value.endswith("Z") else value)
    except ValueError:
        raise _fail(path, "an ISO timestamp string", value) from None
    return value


def expect_list_of(
    value: Any,
    path: str,
    item: Callable[[Any, str], T],
    *,
    optional: bool = False,
    max_items: int = MAX_LIST,
) -> list[T] | None:
    """A list whose every element passes ``item(element, "path[i]")``; returns the checked elements."""
    if value is None and optional:
        return None
    return [item(v, at(path, i)) for i, v in enumerate(_bounded_list(value, path, max_items))]


def _bounded_list(value: Any, path: str, max_items: int) -> list[Any]:
    if not isinstance(value, list):
        raise _fail(path, "a list", value)
    if len(value) > max_items:
        raise SchemaError(path, f"list longer than {max_items} items ({len(value)})")
    return value


def expect_dict_of(
    value: Any,
    path: str,
    item: Callable[[Any, str], T],
    *,
    optional: bool = False,
    max_items: int = 1_000,
    max_key_len: int = 200,
) -> dict[str, T] | None:
    """An object whose every value passes ``item(value, "path.key")``."""
    obj = expect_dict(value, path, optional=optional)
    if obj is None:
        return None
    if len(obj) > max_items:
        raise SchemaError(path, f"object with more than {max_items} keys ({len(obj)})")
    out: dict[str, T] = {}
    for key, v in obj.items():
        if len(key) > max_key_len:
            raise SchemaError(path, f"key longer than {max_key_len} characters")
        out[key] = item(v, at(path, key))
    return out

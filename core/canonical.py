"""The one canonical serialiser, and the hashes computed over its bytes.

Canonical JSON (DESIGN §1.2): UTF-8, keys sorted, no whitespace, non-ASCII written
as is, NaN/Inf rejected. It is pinned to orjson because the stdlib formats floats
differently (``5.9e-05`` vs ``0.000059``) and is 4x slower on the hot path; the
golden vectors in ``tests/unit/test_canonical.py`` fix the exact bytes, so a
serialiser upgrade that changes them fails the suite instead of silently changing
every CRC in the lake.
"""

from __future__ import annotations

import hashlib
import math
import zlib
from typing import Any

import orjson

_OPTS = (
    orjson.OPT_SORT_KEYS
    | orjson.OPT_PASSTHROUGH_DATETIME
    | orjson.OPT_PASSTHROUGH_DATACLASS
    | orjson.OPT_PASSTHROUGH_SUBCLASS
)


class CanonicalJSONError(ValueError):
    """The value cannot be written as canonical JSON (NaN/Inf, non-JSON type, bad key)."""


def _default(obj: Any) -> Any:
    """Subclasses of JSON types (OrderedDict, str enums) serialise as their base; anything else is refused."""
    for base in (dict, list, tuple, str, float):
        if isinstance(obj, base):
            return base(obj)
    if isinstance(obj, int) and not isinstance(obj, bool):
        return int(obj)
    raise TypeError(f"type {type(obj).__name__} is not JSON; convert it first")


_SCALARS = frozenset((str, int, bool, type(None)))  # JSON types that are never a non-finite float


def _any_non_finite(obj: Any) -> bool:
    """Whether ``obj`` holds a NaN/Inf float anywhere: the common answer, no, without building paths.

    Most payloads hold a ``null`` (a symbol without a docstring), so most serialisations come here:
    exact types are tested first and a dict's scalar values are never pushed (the stdlib's 104k such
    payloads: 0.26-0.32 -> 0.09 s); subclasses of JSON types fall through to ``isinstance``.
    """
    stack = [obj]
    pop, push, extend = stack.pop, stack.append, stack.extend
    scalars, isfinite = _SCALARS, math.isfinite
    while stack:
        node = pop()
        kind = type(node)
        if kind is dict:
            for value in node.values():
                value_kind = type(value)
                if value_kind is float:
                    if not isfinite(value):
                        return True
                elif value_kind not in scalars:
                    push(value)
        elif kind is list or kind is tuple:
            extend(node)
        elif kind in scalars:
            continue
        elif isinstance(node, float):
            if not isfinite(node):
                return True
        elif isinstance(node, dict):
            extend(node.values())
        elif isinstance(node, (list, tuple)):
            extend(node)
    return False


def _find_non_finite(obj: Any, path: str = "$") -> str | None:
    """Return the JSON path of the first NaN/Inf float in ``obj``, or None."""
    if isinstance(obj, float):
        return None if math.isfinite(obj) else path
    if isinstance(obj, dict):
        for key, value in obj.items():
            found = _find_non_finite(value, f"{path}.{key}")
            if found:
                return found
    elif isinstance(obj, (list, tuple)):
        for i, value in enumerate(obj):
            found = _find_non_finite(value, f"{path}[{i}]")
            if found:
                return found
    return None


def canonical_json(obj: Any, *, known_finite: bool = False) -> bytes:
    """Serialise ``obj`` to canonical JSON bytes; raise CanonicalJSONError if it can't be.

    orjson writes NaN/Inf as ``null``, so any output containing ``null`` is walked once
    to tell a real None from a non-finite float. Output without ``null`` skips the walk,
    and so does ``known_finite=True``, for callers that already know: a value fresh from
    ``orjson.loads`` (the parser refuses NaN/Infinity literals) or a column whose floats
    were checked in polars.
    """
    try:
        out = orjson.dumps(obj, default=_default, option=_OPTS)
    except (TypeError, orjson.JSONEncodeError) as exc:
        raise CanonicalJSONError(f"not canonicalisable: {exc}") from exc
    if not known_finite and b"null" in out and _any_non_finite(obj):
        where = _find_non_finite(obj)
        if where:
            raise CanonicalJSONError(f"NaN/Infinity at {where} cannot be written as canonical JSON")
    return out


def canonical_text(obj: Any) -> str:
    """Canonical JSON as ``str`` (for payload columns)."""
    return canonical_json(obj).decode("utf-8")


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def crc32(data: bytes) -> int:
    """Unsigned CRC-32; stored as Int64 because Delta has no unsigned integers."""
    return zlib.crc32(data) & 0xFFFFFFFF


def content_id(obj: Any) -> str:
    """sha256 hex of the canonical JSON of ``obj``: the id of anything derived from content."""
    return sha256_hex(canonical_json(obj))

"""Small text formatting helpers shared by the stage collectors."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any


def human_size(n_bytes: int | None) -> str:
    """``1536`` -> ``"1.5 KiB"``; None -> ``""``."""
    if n_bytes is None:
        return ""
    if n_bytes < 1024:
        return f"{n_bytes} B"
    size = float(n_bytes)
    for unit in ("KiB", "MiB", "GiB"):
        size /= 1024
        if size < 1024:
            return f"{size:.1f} {unit}"
    return f"{size / 1024:.1f} TiB"


def as_text(value: Any, limit: int = 300) -> str:
    """A short readable string for a JSON-like value (numbers rounded, long text cut)."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, str):
        text = value
        if text[:1] in "[{":
            try:  # JSON kept as text (netCDF attrs): round its numbers too
                text = json.dumps(_rounded(json.loads(text)), default=str, sort_keys=True)
            except ValueError:
                pass
    elif isinstance(value, Mapping) and set(value) <= {"name", "url", "id"}:
        text = " ".join(str(value[k]) for k in ("id", "name", "url") if k in value)
    else:
        text = json.dumps(_rounded(value), default=str, sort_keys=True)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _rounded(value: Any) -> Any:
    """Floats inside lists and mappings rounded to 4 significant digits (no 16-digit floats)."""
    if isinstance(value, bool):
        return value
    if isinstance(value, float):
        return float(f"{value:.4g}")
    if isinstance(value, Mapping):
        return {k: _rounded(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_rounded(v) for v in value]
    return value


def flatten(mapping: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """Nested mappings as one level with dotted keys: ``{"a": {"b": 1}}`` -> ``{"a.b": 1}``."""
    flat: dict[str, Any] = {}
    for key, value in mapping.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping) and value:
            flat.update(flatten(value, prefix=f"{name}."))
        else:
            flat[name] = value
    return flat


def slugify(text: str) -> str:
    """A safe file stem: characters other than letters, digits, ``-``, ``_``, ``.`` become ``_``."""
    return re.sub(r"[^A-Za-z0-9_.-]", "_", text)

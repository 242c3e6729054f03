"""Validation helpers shared by every entry point.

Errors raised here are user-facing: one line that names the parameter (or file and field), the
allowed values and the value received, and a fix where there is one.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Sized
from pathlib import Path
from typing import Any


class NeuroalignError(Exception):
    """An error caused by the user's input (a file, a config field, a dataset).

    The command-line interface prints its message as one line, without a traceback.
    """


class InvalidValueError(NeuroalignError, ValueError):
    """A value out of its allowed set or range: a user error that is also a ValueError."""


class InvalidTypeError(NeuroalignError, TypeError):
    """A value of the wrong type: a user error that is also a TypeError."""


def suggest(value: Any, allowed: Iterable[Any]) -> str:
    """Return " Did you mean 'x'?" for the closest allowed value, or "" if none is close."""
    choices = [str(a) for a in allowed]
    close = difflib.get_close_matches(str(value), choices, n=1, cutoff=0.6)
    return f" Did you mean {close[0]!r}?" if close else ""


def _format_allowed(allowed: Iterable[Any]) -> str:
    items = [repr(a) for a in allowed]
    if len(items) <= 1:
        return "".join(items)
    return ", ".join(items[:-1]) + f" and {items[-1]}"


def check_option(name: str, value: Any, allowed: Iterable[Any]) -> Any:
    """Check that ``value`` is one of ``allowed`` and return it.

    Parameters
    ----------
    name : str
        Name of the parameter, used in the error message.
    value : object
        The value received.
    allowed : iterable
        The allowed values.

    Returns
    -------
    value : object
        The value, unchanged.

    Raises
    ------
    InvalidValueError
        A NeuroalignError and a ValueError, if ``value`` is not allowed; the message lists the
        allowed values.
    """
    allowed = list(allowed)
    if value not in allowed:
        raise InvalidValueError(
            f"Invalid value for the {name!r} parameter. Allowed values are "
            f"{_format_allowed(allowed)}, but got {value!r} instead.{suggest(value, allowed)}"
        )
    return value


def check_type(name: str, value: Any, types: type | tuple[type, ...]) -> Any:
    """Check that ``value`` is an instance of ``types`` and return it."""
    if not isinstance(value, types):
        names = (
            types.__name__ if isinstance(types, type) else " or ".join(t.__name__ for t in types)
        )
        raise InvalidTypeError(f"{name!r} must be {names}, got {type(value).__name__} instead.")
    return value


def check_range(
    name: str,
    value: float,
    low: float | None = None,
    high: float | None = None,
    *,
    closed: str = "both",
) -> float:
    """Check that ``low <= value <= high`` (or strict at the ends not in ``closed``).

    ``closed`` is one of "both", "left", "right" or "neither".
    """
    check_option("closed", closed, ["both", "left", "right", "neither"])
    low_ok = low is None or (value >= low if closed in ("both", "left") else value > low)
    high_ok = high is None or (value <= high if closed in ("both", "right") else value < high)
    if not (low_ok and high_ok):
        left = "[" if closed in ("both", "left") else "("
        right = "]" if closed in ("both", "right") else ")"
        lo = "-inf" if low is None else low
        hi = "inf" if high is None else high
        raise InvalidValueError(
            f"{name!r} must be in {left}{lo}, {hi}{right}, got {value!r} instead."
        )
    return value


def check_same_length(**named: Sized) -> int:
    """Check that every argument has the same length and return it.

    Examples
    --------
    >>> check_same_length(words=[1, 2], onsets=[0.1, 0.2])
    2
    """
    lengths = {k: len(v) for k, v in named.items()}
    if len(set(lengths.values())) > 1:
        detail = ", ".join(f"{k} has {n}" for k, n in lengths.items())
        raise InvalidValueError(f"Lengths differ: {detail}; they must be equal.")
    return next(iter(lengths.values()), 0)


def check_file(path: str | Path, what: str = "file") -> Path:
    """Return ``path`` as a Path, or raise NeuroalignError if it is not an existing file."""
    path = Path(path)
    if not path.is_file():
        raise NeuroalignError(
            f"{what} not found: {path}. Check the path (or run the stage that makes it)."
        )
    return path

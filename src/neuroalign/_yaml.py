"""Safe YAML loading (no code execution) with file-named errors.

Beyond ``yaml.safe_load``: a file that is not UTF-8, that uses more aliases than any
configuration needs (an alias bomb: a few lines that expand to gigabytes once written out as
JSON), that expands past a size limit, or that refers to itself (a recursive alias) is refused
with one line naming the file.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from neuroalign._check import NeuroalignError

#: Most aliases (``*name``) a file may use; real configurations and manifests use a handful.
MAX_ALIASES = 100
#: Most values (scalars, list items, mapping entries) a file may expand to, aliases expanded.
MAX_NODES = 1_000_000


class _TooManyAliases(yaml.YAMLError):
    """More aliases than `MAX_ALIASES`."""


class _CountingLoader(yaml.SafeLoader):
    """``SafeLoader`` that counts the aliases it resolves and stops past `MAX_ALIASES`."""

    def compose_node(self, parent, index):  # PyYAML's hook
        if self.check_event(yaml.AliasEvent):
            self.aliases = getattr(self, "aliases", 0) + 1
            if self.aliases > MAX_ALIASES:
                mark = self.peek_event().start_mark
                raise _TooManyAliases(f"line {mark.line + 1}")
        return super().compose_node(parent, index)


def _check_expansion(value: Any, source: Path) -> None:
    """Refuse a document that refers to itself or expands past `MAX_NODES` values."""
    count = 0
    # Depth-first over the document as JSON would write it: shared (aliased) parts count each
    # time they appear, and a container inside itself is a cycle.
    stack: list[tuple[Any, frozenset[int]]] = [(value, frozenset())]
    while stack:
        node, ancestors = stack.pop()
        count += 1
        if count > MAX_NODES:
            raise NeuroalignError(
                f"{source}: expands to more than {MAX_NODES:,} values once its aliases are "
                "resolved (an alias bomb?); write the values out or use fewer aliases."
            )
        if isinstance(node, dict | list):
            if id(node) in ancestors:
                raise NeuroalignError(
                    f"{source}: refers to itself (a recursive alias); a configuration must be a "
                    "tree: remove the alias that points into its own anchor."
                )
            inner = ancestors | {id(node)}
            children = node.values() if isinstance(node, dict) else node
            stack.extend((child, inner) for child in children)


def load_yaml(path: str | Path) -> Any:
    """Load a YAML file with ``yaml.safe_load``, refusing alias bombs and recursion.

    Raises
    ------
    NeuroalignError
        If the file is missing, not UTF-8, not valid YAML, uses more than `MAX_ALIASES`
        aliases, expands past `MAX_NODES` values or refers to itself; the message names the
        file (and line).
    """
    path = Path(path)
    if not path.is_file():
        raise NeuroalignError(f"{path}: file not found.")
    try:
        text = path.read_bytes().decode("utf-8")
    except UnicodeDecodeError as err:
        raise NeuroalignError(
            f"{path}: not UTF-8 text (byte {err.start} is "
            f"{err.object[err.start : err.start + 1]!r}); save the file as UTF-8."
        ) from None
    except OSError as err:
        raise NeuroalignError(f"{path}: cannot be read ({err.strerror}).") from None
    try:
        value = yaml.load(text, Loader=_CountingLoader)  # a SafeLoader subclass
    except _TooManyAliases as err:
        raise NeuroalignError(
            f"{path} ({err}): uses more than {MAX_ALIASES} aliases (*name), which no "
            "configuration needs (an alias bomb?); write the values out."
        ) from None
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f" (line {mark.line + 1})" if mark is not None else ""
        problem = getattr(err, "problem", None) or str(err).splitlines()[0]
        raise NeuroalignError(
            f"{path}{where}: not valid YAML: {problem}. Fix the syntax."
        ) from None
    except RecursionError:
        raise NeuroalignError(f"{path}: nested too deeply to read; flatten it.") from None
    _check_expansion(value, path)
    return value

"""Every path a workflow shell command interpolates is shell-quoted.

A results folder with a space, or one holding ``$(...)``, must reach the subcommand as one
argument and never run. Each rule's ``shell:`` string is parsed from its rules file: every
``{input}``, ``{output}``, ``{log}`` and ``{wildcards}`` placeholder carries ``:q``, and so
does every ``{params}`` one, except params that hold ready-made flags whose values are quoted
where they are built (``shlex.quote``, directly or in the helper that builds them).
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]

RULES = sorted((REPO_ROOT / "workflow" / "rules").glob("*.smk"))
PLACEHOLDER = re.compile(r"(?<!\{)\{([A-Za-z_][^{}]*)\}(?!\})")
QUOTED_KINDS = ("input", "output", "log", "params", "wildcards")
#: Placeholders that are numbers set by Snakemake itself.
NUMERIC = ("threads", "resources")


def _blocks(lines: list[str], start: int) -> tuple[list[str], int]:
    """The lines indented below ``lines[start]`` and the index after them."""
    indent = len(lines[start]) - len(lines[start].lstrip())
    end = start + 1
    while end < len(lines) and (
        not lines[end].strip() or len(lines[end]) - len(lines[end].lstrip()) > indent
    ):
        end += 1
    return lines[start + 1 : end], end


def rules_of(path: Path) -> dict[str, list[str]]:
    """Each rule's lines (directives and their bodies) in a rules file."""
    lines = path.read_text().splitlines()
    rules: dict[str, list[str]] = {}
    for k, line in enumerate(lines):
        match = re.match(r"(?:rule|checkpoint)\s+(\w+)\s*:", line)
        if match:
            rules[match.group(1)], _ = _blocks(lines, k)
    return rules


def directive(rule: list[str], name: str) -> list[str]:
    """The body lines of one directive (``shell``, ``params``) of a rule."""
    for k, line in enumerate(rule):
        if line.strip() == f"{name}:":
            body, _ = _blocks(rule, k)
            return body
    return []


def shell_text(rule: list[str]) -> str | None:
    body = directive(rule, "shell")
    if not body:
        return None
    return ast.literal_eval("(" + "\n".join(line.strip() for line in body) + ")")


def param_definitions(rule: list[str]) -> dict[str, str]:
    """Each param's definition text (``name=...`` up to the next param)."""
    out: dict[str, str] = {}
    current = None
    body = directive(rule, "params")
    indent = min((len(x) - len(x.lstrip()) for x in body if x.strip()), default=0)
    for line in body:
        match = re.match(r"(\w+)\s*=", line[indent:]) if line[indent : indent + 1] != " " else None
        if match:
            current = match.group(1)
            out[current] = line
        elif current is not None:
            out[current] += "\n" + line
    return out


def _function_sources() -> dict[str, str]:
    """Source of every function defined in the rules files and the package's workflow helpers."""
    sources: dict[str, str] = {}
    files = [*RULES, *(REPO_ROOT / "src" / "neuroalign").rglob("*workflow*.py")]
    for path in files:
        lines = path.read_text().splitlines()
        for k, line in enumerate(lines):
            match = re.match(r"def (\w+)\(", line)
            if match:
                body, _ = _blocks(lines, k)
                sources[match.group(1)] = "\n".join(body)
    return sources


FUNCTIONS = _function_sources()


def quotes_its_values(definition: str) -> bool:
    """Whether a param's definition quotes what it builds (itself or through its helper)."""
    if "shlex.quote" in definition:
        return True
    names = set(re.findall(r"\b(\w+)\b", definition.partition("=")[2]))
    return any("shlex.quote" in FUNCTIONS.get(name, "") for name in names)


ALL_RULES = [
    (path.name, name, rule)
    for path in RULES
    for name, rule in rules_of(path).items()
    if shell_text(rule) is not None
]


def test_rules_are_found():
    shells = [r for _, _, r in ALL_RULES if shell_text(r) is not None]
    assert len(shells) >= 20, "the rules' shell commands were not found"


@pytest.mark.parametrize(
    ("file", "name", "rule"), ALL_RULES, ids=[f"{f}:{n}" for f, n, _ in ALL_RULES]
)
def test_shell_quotes_every_path(file, name, rule):
    text = shell_text(rule)
    params = param_definitions(rule)
    bad = []
    for placeholder in PLACEHOLDER.findall(text):
        field = placeholder.split(":")[0]
        kind = field.split(".")[0].split("[")[0]
        if placeholder.endswith(":q") or kind in NUMERIC:
            continue
        assert kind in QUOTED_KINDS, (
            f"{file}: rule {name}: unexpected placeholder {{{placeholder}}}"
        )
        if kind == "params":
            param = field.split(".")[1] if "." in field else ""
            if param in params and quotes_its_values(params[param]):
                continue
        bad.append(placeholder)
    assert not bad, (
        f"{file}: rule {name} interpolates {', '.join('{' + b + '}' for b in bad)} unquoted; "
        "write {x:q} (or build a flag param with shlex.quote)"
    )


def test_checker_catches_an_unquoted_path():
    rule = [
        "    output:",
        '        "x"',
        "    params:",
        '        flags=lambda wc: "--a b",',
        "    shell:",
        '        "run {output} {params.flags} {log:q}"',
    ]
    text = shell_text(rule)
    params = param_definitions(rule)
    unquoted = [p for p in PLACEHOLDER.findall(text) if not p.endswith(":q")]
    assert unquoted == ["output", "params.flags"]
    assert not quotes_its_values(params["flags"])
    assert quotes_its_values("x=lambda wc, input: f'--i {shlex.quote(input.x)}'")

"""Security review as tests: safe YAML, no remote code, weights-only checkpoints, escaped HTML.

The source checks read every Python file of the package, its workflow, scripts and
benchmarks (ast, not grep, so a call split over lines counts); the report check builds a real
site from results whose user-supplied strings hold markup and reads every page it wrote.
"""

from __future__ import annotations

import ast
import html
import inspect
import re
from pathlib import Path

import pandas as pd
import pytest
import yaml

from neuroalign._check import NeuroalignError
from neuroalign._yaml import load_yaml

REPO = Path(__file__).resolve().parents[2]
SOURCES = sorted(
    p
    for folder in ("src", "workflow", "scripts", "benchmarks")
    for p in (REPO / folder).rglob("*.py")
    if (REPO / folder).is_dir()
)
SMK = [*sorted((REPO / "workflow").rglob("*.smk")), REPO / "workflow" / "Snakefile"]


def _calls(path: Path):
    tree = ast.parse(path.read_text(), filename=str(path))
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            yield node


def _name(func: ast.expr) -> str:
    if isinstance(func, ast.Attribute):
        return f"{_name(func.value)}.{func.attr}"
    return func.id if isinstance(func, ast.Name) else "?"


def _keyword(call: ast.Call, name: str):
    return next((k.value for k in call.keywords if k.arg == name), None)


def test_the_scan_sees_the_package():
    assert any(p.name == "_yaml.py" for p in SOURCES)
    assert len(SOURCES) > 100


def test_yaml_is_loaded_safely_everywhere():
    unsafe = []
    for path in SOURCES:
        for call in _calls(path):
            name = _name(call.func)
            if name in ("yaml.unsafe_load", "yaml.full_load", "yaml.unsafe_load_all"):
                unsafe.append(f"{path}:{call.lineno} {name}")
            elif name in ("yaml.load", "yaml.load_all"):
                loader = _keyword(call, "Loader")
                loader_name = _name(loader) if loader is not None else "none"
                if loader_name not in ("yaml.SafeLoader", "yaml.CSafeLoader", "_CountingLoader"):
                    unsafe.append(f"{path}:{call.lineno} {name}(Loader={loader_name})")
    for path in SMK:
        text = path.read_text()
        for match in re.finditer(r"yaml\.(unsafe_load|full_load|load)\(", text):
            unsafe.append(f"{path}: {match.group(0)}")
    assert not unsafe, "YAML loaded without the safe loader: " + "; ".join(unsafe)


def test_the_project_loader_is_a_safe_loader():
    from neuroalign import _yaml

    assert issubclass(_yaml._CountingLoader, yaml.SafeLoader)


def test_yaml_python_tags_are_refused(tmp_path):
    path = tmp_path / "evil.yaml"
    marker = tmp_path / "pwned"
    path.write_text(f'x: !!python/object/apply:os.system ["touch {marker}"]\n')
    with pytest.raises(NeuroalignError, match="not valid YAML"):
        load_yaml(path)
    assert not marker.exists()


def test_torch_load_is_weights_only_everywhere():
    bad = []
    for path in SOURCES:
        for call in _calls(path):
            if _name(call.func) == "torch.load":
                value = _keyword(call, "weights_only")
                if not (isinstance(value, ast.Constant) and value.value is True):
                    bad.append(f"{path}:{call.lineno}")
    assert not bad, "torch.load without weights_only=True: " + ", ".join(bad)


def test_no_remote_code_unless_the_config_trusts_the_model():
    literal_true = [
        f"{path}:{call.lineno}"
        for path in SOURCES
        for call in _calls(path)
        if isinstance(v := _keyword(call, "trust_remote_code"), ast.Constant) and v.value is True
    ]
    assert not literal_true, "trust_remote_code=True written in the code: " + ", ".join(
        literal_true
    )
    from neuroalign.models.sources import load_model
    from neuroalign.schemas import load_schema

    assert inspect.signature(load_model).parameters["trust_remote_code"].default is False
    schema = yaml.safe_dump(load_schema("config"))
    for match in re.finditer(r"trust_remote_code:\n(?:\s+.*\n)*?\s+default: (\w+)", schema):
        assert match.group(1) == "false"
    assert "trust_remote_code" in schema


# -- user strings in the report are escaped -------------------------------------------------

MARKUP = '<script>alert("x")</script><img src=x onerror=alert(1)>'


def test_markup_in_user_strings_is_escaped_in_the_built_pages(tmp_path):
    from neuroalign.data.stimuli import standardize, write_table
    from neuroalign.report import ReportSettings, build_report

    results = tmp_path / "results"
    words = pd.DataFrame(
        {
            "text": [f"word{MARKUP}", "plain", MARKUP],
            "story": [f"story{MARKUP}", "s", "s"],
            "position": [0, 0, 1],
            "onset": [0.0, 1.0, 2.0],
        }
    )
    table = standardize(words, stimset="evil", reader="test")
    write_table(table, results / "stimuli" / "evil.parquet")
    config = {
        "results": str(results),
        "models": {f"model{MARKUP}": {"source": f"path:{MARKUP}"}},
        "datasets": {f"ds{MARKUP}": {"subset": "starter"}},
        "report": {"title": f"run {MARKUP}"},
    }
    index = build_report(
        ReportSettings(title=f"run {MARKUP}"),
        output=tmp_path / "report" / "index.html",
        config=config,
        results=results,
        data_root=tmp_path / "data",
    )
    pages = sorted(index.parent.rglob("*.html"))
    assert len(pages) >= 3
    text = {p.name: p.read_text() for p in pages}
    everything = "\n".join(text.values())
    for raw in ("<script>alert", "<img src=x onerror"):
        leaks = [name for name, t in text.items() if raw in t]
        assert not leaks, f"unescaped markup {raw!r} in {leaks}"
    escaped = html.escape("<script>", quote=False)
    assert escaped in everything, "the markup strings did not reach the pages at all"
    # Stimulus text and story (the set's page), model and dataset names and the title (index),
    # config values (provenance): each page shows them, escaped.
    for page in ("stimuli-evil.html", "index.html", "provenance.html"):
        assert escaped in text[page], f"{page} does not show the (escaped) strings"

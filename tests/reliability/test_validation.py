"""Faults: invalid configs and manifests are refused in one line naming the file and field.

Empty output roots, NaN and infinities, ``2.0`` for an integer, and manifest paths that leave
the mirror; pattern-checked fields print their regular expression and what is allowed.
"""

from __future__ import annotations

import math
import re
from pathlib import Path

import pytest
import yaml

from neuroalign._check import NeuroalignError
from neuroalign.config import validate_config
from neuroalign.data.fetch import Mirror
from neuroalign.data.manifest import load_manifest
from neuroalign.schemas import load_schema, validate_section

REPO = Path(__file__).resolve().parents[2]


def _refused(config, *words):
    with pytest.raises(NeuroalignError) as info:
        validate_config(config, source="cfg.yaml")
    message = str(info.value)
    assert "\n" not in message
    assert message.startswith("cfg.yaml: ")
    for word in words:
        assert word in message, message
    return message


@pytest.mark.parametrize("value", ["", "   "])
def test_empty_results_is_refused(value):
    _refused({"results": value}, "'results'", "never blank")


@pytest.mark.parametrize("value", ["", "\t"])
def test_empty_data_root_is_refused(value):
    _refused({"data": {"root": value}}, "'data.root'", "never blank")


@pytest.mark.parametrize("value", [math.nan, math.inf, -math.inf])
def test_non_finite_numbers_are_refused_by_every_bound(value):
    _refused({"seed": value}, "'seed'", "not a finite number")
    _refused({"simulate": {"meg": {"sfreq": value}}}, "'simulate.meg.sfreq'", "finite")


def test_nan_in_yaml_is_refused(tmp_path):
    from neuroalign.config import load_config

    path = tmp_path / "c.yaml"
    path.write_text("simulate:\n  meg: {sfreq: .nan}\n")
    with pytest.raises(NeuroalignError, match=r"c.yaml: field 'simulate.meg.sfreq' is nan"):
        load_config(path)


def test_a_float_is_not_an_integer():
    _refused({"seed": 2.0}, "'seed'", "integer")
    assert validate_config({"seed": 2})["seed"] == 2


def test_a_section_refuses_nan_and_float_integers():
    """A settings file of one stage (episodic.train: steps) is checked like the config."""
    pointer = "#/properties/episodic/properties/train"
    for steps in (10.5, 10.0, math.nan):
        with pytest.raises(NeuroalignError, match=r"train.json: field 'steps'"):
            validate_section({"steps": steps}, pointer, "train.json")
    assert validate_section({"steps": 10}, pointer, "train.json")["steps"] == 10


def _manifest(tmp_path, **changes):
    doc = yaml.safe_load((REPO / "data_manifests" / "blimp.yaml").read_text())
    doc.update(changes)
    path = tmp_path / f"{doc['id']}.yaml"
    path.write_text(yaml.safe_dump(doc))
    return path


@pytest.mark.parametrize("folder", ["..", "../secrets", "blimp/../..", ".", "/etc"])
def test_mirror_folder_outside_the_mirror_is_refused(tmp_path, folder):
    with pytest.raises(NeuroalignError) as info:
        load_manifest(_manifest(tmp_path, mirror_folder=folder))
    message = str(info.value)
    assert "'mirror_folder'" in message
    assert "regular expression" in message
    assert "allowed:" in message and "no '.'" in message
    assert "\n" not in message


@pytest.mark.parametrize("path", ["../x", "/etc/passwd", "a/../../b"])
def test_the_mirror_refuses_paths_that_leave_it(tmp_path, path):
    with pytest.raises(NeuroalignError, match="outside the mirror"):
        Mirror(str(tmp_path), is_url=False).locate(path)


def _pattern_fields(schema, node, path="#"):
    """Every (pointer, subschema) that carries a pattern."""
    if isinstance(node, dict):
        if isinstance(node.get("pattern"), str):
            yield path, node
        for key, value in node.items():
            yield from _pattern_fields(schema, value, f"{path}/{key}")
    elif isinstance(node, list):
        for k, value in enumerate(node):
            yield from _pattern_fields(schema, value, f"{path}/{k}")


def _described(schema, pointer, node):
    """A pattern's readable description: its own, or the one written beside its $ref."""
    if node.get("description"):
        return True
    name = pointer.rsplit("/", 1)[-1]
    # A $defs entry (relpath, pattern, url) is described where it is used; its users count.
    text = yaml.safe_dump(schema)
    return f"#/$defs/{name}" in text and name in {"relpath", "pattern", "url"}


@pytest.mark.parametrize("name", ["config", "manifest"])
def test_every_pattern_field_says_what_is_allowed(name):
    schema = load_schema(name)
    fields = list(_pattern_fields(schema, schema))
    assert fields
    undescribed = [p for p, node in fields if not _described(schema, p, node)]
    assert not undescribed, f"pattern fields without a description: {undescribed}"


def test_a_pattern_message_prints_the_regex_and_the_allowed_form():
    message = _refused(
        {"models": {"m": {"source": "gpt2"}}}, "'models.m.source'", "regular expression"
    )
    assert re.search(r"\^\(hf\|path\|pypi\)", message), message
    assert "allowed: hf:<id>" in message

"""Stage settings: schema sections, defaults filled once, shared value types."""

from __future__ import annotations

import dataclasses
import importlib
import json
import pkgutil

import numpy as np
import pytest

import neuroalign
from neuroalign._check import NeuroalignError
from neuroalign.schemas import load_schema, section_schema, validate_section
from neuroalign.settings import (
    DEFAULT_ALPHAS,
    StageSettings,
    alpha_grid,
    read_settings,
    select_layers,
    write_settings,
)


def test_alpha_grid_forms():
    assert np.allclose(alpha_grid(), np.logspace(-3, 6, 19))
    assert np.allclose(alpha_grid({"start": -1, "stop": 1, "num": 3}), [0.1, 1.0, 10.0])
    assert np.allclose(alpha_grid([5, 0.5]), [5, 0.5])
    for bad in ([], [1.0, 0.0], [-2.0]):
        with pytest.raises(NeuroalignError, match="positive"):
            alpha_grid(bad)


def test_default_alphas_is_the_schema_default():
    assert load_schema("config")["$defs"]["alphas"]["default"] == DEFAULT_ALPHAS


@pytest.mark.parametrize(
    ("spec", "expected"),
    [("all", [0, 1, 2, 3]), ([0, -1], [0, 3]), ([-4, 3, -1], [0, 3]), ([2, 1], [2, 1])],
)
def test_select_layers(spec, expected):
    assert select_layers(spec, 4) == expected


@pytest.mark.parametrize("spec", [[4], [-5], "first"])
def test_select_layers_out_of_range(spec):
    with pytest.raises(NeuroalignError, match="layers"):
        select_layers(spec, 4)


def test_validate_section_fills_shared_types():
    schema = {"type": "object"}
    assert section_schema("#/$defs/device")["pattern"].startswith("^(auto")
    section = validate_section({}, "#/$defs/sim_meg", "x.yaml")
    assert section["sfreq"] == 100.0 and section["stories"] == ["lighthouse"]
    with pytest.raises(NeuroalignError, match=r"x.yaml: .*sfreq"):
        validate_section({"sfreq": 1}, "#/$defs/sim_meg", "x.yaml")
    assert schema == {"type": "object"}


@dataclasses.dataclass(frozen=True)
class _Meg(StageSettings):
    SECTION = "#/$defs/sim_meg"
    enabled: bool = True
    seed: int | None = None
    n_subjects: int = 1
    stories: tuple[str, ...] = ("lighthouse",)
    sfreq: float = 100.0
    tmin: float = 0.0
    tmax: float = 0.6
    trf_amplitude: float = 250.0
    noise_sd: float = 150.0
    lead_in: float = 3.0
    speech_rate: float = 2.5
    line_freq: float = 50
    divergent_category: str | None = None
    divergent_amplitude: float = 250.0
    bad_channels: tuple[str, ...] = ()


def test_from_config_and_round_trip(tmp_path):
    s = _Meg.from_config({"stories": ["orchard", "ferry"]}, source="cfg")
    assert s.stories == ("orchard", "ferry") and s.sfreq == 100.0
    assert _Meg.from_config({}) == _Meg()
    path = write_settings(s, tmp_path / "s.json")
    assert json.loads(path.read_text())["stories"] == ["orchard", "ferry"]
    assert read_settings(_Meg, path) == s
    with pytest.raises(NeuroalignError, match=r"unknown key 'sfrq'.*Did you mean 'sfreq'"):
        _Meg.from_config({"sfrq": 10})


def test_read_settings_errors(tmp_path):
    with pytest.raises(NeuroalignError, match="settings file not found"):
        read_settings(_Meg, tmp_path / "missing.json")
    bad = tmp_path / "bad.json"
    bad.write_text("{oops")
    with pytest.raises(NeuroalignError, match="not valid JSON"):
        read_settings(_Meg, bad)
    bad.write_text("[1, 2]")
    with pytest.raises(NeuroalignError, match="JSON object"):
        read_settings(_Meg, bad)


def _all_settings_classes():
    for info in pkgutil.walk_packages(neuroalign.__path__, "neuroalign."):
        if ".cli" in info.name or info.name.endswith("__main__"):
            continue
        importlib.import_module(info.name)
    seen, stack = [], list(StageSettings.__subclasses__())
    while stack:
        cls = stack.pop()
        stack.extend(cls.__subclasses__())
        # Bases shared by several settings classes (not dataclasses themselves) have no section.
        if cls.__module__.startswith("neuroalign.") and cls not in seen:
            if dataclasses.is_dataclass(cls):
                seen.append(cls)
    return seen


def _resolved_properties(pointer):
    schema = section_schema(pointer)
    root = load_schema("config")
    out = {}
    for key, sub in schema.get("properties", {}).items():
        if "default" in sub:
            out[key] = sub["default"]
        elif "$ref" in sub:
            target = root
            for part in sub["$ref"][2:].split("/"):
                target = target[part]
            if "default" in target and target.get("type") != "object":
                out[key] = target["default"]
    return schema, out


def _plain(value):
    if isinstance(value, tuple | list):
        return [_plain(v) for v in value]
    return value


def test_every_settings_class_matches_its_schema_section():
    classes = _all_settings_classes()
    assert classes, "no stage settings classes found"
    for cls in classes:
        assert cls.SECTION, f"{cls.__name__} has no SECTION"
        schema, defaults = _resolved_properties(cls.SECTION)
        fields = {f.name: f for f in dataclasses.fields(cls)}
        keys = set(schema.get("properties", {}))
        assert set(fields) == keys, f"{cls.__name__}: fields differ from {cls.SECTION}"
        for name, field in fields.items():
            if field.default is not dataclasses.MISSING:
                value = field.default
            elif field.default_factory is not dataclasses.MISSING:
                value = field.default_factory()
            else:
                continue
            if isinstance(value, StageSettings):
                continue
            assert name in defaults, f"{cls.__name__}.{name}: a default the schema lacks"
            assert _plain(value) == defaults[name], f"{cls.__name__}.{name}: default differs"


def test_seed_or_default_falls_back_to_the_top_level_default():
    from neuroalign.schemas import load_schema
    from neuroalign.settings import seed_or_default

    assert seed_or_default(7) == 7
    assert seed_or_default(None) == load_schema("config")["properties"]["seed"]["default"]

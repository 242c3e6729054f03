"""One mirror rule: --mirror flag > NEUROALIGN_MIRROR > config data.mirror > none.

An empty string at any level turns the mirror off there, whatever the levels below say. The
CLI, the Python stage and the workflow rule (which passes the config's mirror in the settings
file, never as a flag) all go through `resolve_mirror`.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest
import yaml

from neuroalign.cli import main
from neuroalign.data.fetch import MIRROR_ENV, FetchSettings, fetch, resolve_mirror
from neuroalign.settings import read_settings, write_settings

PAYLOAD = b"mirrored bytes"


@pytest.fixture
def mirrors(tmp_path, monkeypatch):
    """Three mirror folders, one per level, and no mirror in the environment."""
    monkeypatch.delenv(MIRROR_ENV, raising=False)
    out = {}
    for level in ("flag", "env", "config"):
        folder = tmp_path / f"mirror_{level}"
        (folder / "toyfolder").mkdir(parents=True)
        (folder / "toyfolder" / "a.bin").write_bytes(PAYLOAD)
        out[level] = str(folder)
    return out


@pytest.mark.parametrize(
    ("flag", "env", "config", "expected"),
    [
        ("flag", "env", "config", "flag"),
        (None, "env", "config", "env"),
        (None, None, "config", "config"),
        (None, None, None, None),
        # An empty string turns the mirror off at its level.
        ("", "env", "config", None),
        (None, "", "config", None),
        (None, None, "", None),
    ],
)
def test_resolve_mirror_levels(mirrors, monkeypatch, flag, env, config, expected):
    def value(level):
        return None if level is None else mirrors.get(level, level)

    if env is not None:
        monkeypatch.setenv(MIRROR_ENV, value(env))
    got = resolve_mirror(value(flag), value(config))
    if expected is None:
        assert got is None
    else:
        assert got.root == str(Path(mirrors[expected]).resolve())


def _manifests(tmp_path):
    folder = tmp_path / "manifests"
    folder.mkdir()
    doc = {
        "schema_version": 1,
        "id": "toy",
        "title": "Toy",
        "modality": "text",
        "source": {"type": "http"},
        "access": {"registration_required": False},
        "license": {"spdx": "CC0-1.0", "url": "https://example.org/license"},
        "citation": {"text": "Someone (2024). A toy."},
        "total_size": {"bytes": len(PAYLOAD)},
        "mirror_folder": "toyfolder",
        "subsets": {"starter": {"include": ["**"]}, "full": {"include": ["**"]}},
        "files": [
            {
                "path": "a.bin",
                "url": "https://upstream.invalid/a.bin",
                "size": len(PAYLOAD),
                "sha256": hashlib.sha256(PAYLOAD).hexdigest(),
            }
        ],
    }
    (folder / "toy.yaml").write_text(yaml.safe_dump(doc, sort_keys=False))
    return folder


def _used(stamp):
    return json.loads(stamp.read_text())["mirror"]


def test_stage_function_follows_the_rule(tmp_path, mirrors, monkeypatch):
    settings = FetchSettings.from_config(
        {"root": str(tmp_path / "data"), "manifests": str(_manifests(tmp_path)),
         "mirror": mirrors["config"]}
    )  # fmt: skip
    kwargs = {"progressbar": False}
    assert _used(fetch(settings, "toy", **kwargs)).endswith("mirror_config")
    monkeypatch.setenv(MIRROR_ENV, mirrors["env"])
    assert _used(fetch(settings, "toy", **kwargs)).endswith("mirror_env")
    assert _used(fetch(settings, "toy", mirror=mirrors["flag"], **kwargs)).endswith("mirror_flag")
    monkeypatch.setenv(MIRROR_ENV, "")
    stamp = fetch(settings, "toy", **kwargs)  # the file is already there: no download needed
    assert _used(stamp) is None


def test_command_line_follows_the_rule(tmp_path, mirrors, monkeypatch, capsys):
    data = {"root": str(tmp_path / "data"), "manifests": str(_manifests(tmp_path))}
    path = write_settings({**data, "mirror": mirrors["config"]}, tmp_path / "fetch.json")
    argv = ["fetch", "toy", "--settings", str(path), "--no-progress"]
    stamp = tmp_path / "data" / "raw" / "toy" / ".neuroalign-fetch-starter.json"
    assert main(argv) == 0
    assert _used(stamp).endswith("mirror_config")
    monkeypatch.setenv(MIRROR_ENV, mirrors["env"])
    assert main(argv) == 0
    assert _used(stamp).endswith("mirror_env")
    assert main([*argv, "--mirror", mirrors["flag"]]) == 0
    assert _used(stamp).endswith("mirror_flag")
    assert main([*argv, "--mirror", ""]) == 0
    assert _used(stamp) is None
    capsys.readouterr()


def test_settings_round_trip_and_errors(tmp_path):
    settings = FetchSettings.from_config({"mirror": "../m", "accept_terms": ["blimp"]})
    assert settings.root == "data" and settings.accept_terms == ("blimp",)
    path = write_settings(settings, tmp_path / "s.json")
    assert read_settings(FetchSettings, path) == settings
    from neuroalign._check import NeuroalignError

    with pytest.raises(NeuroalignError, match=r"^x: unknown key 'mirorr'.*Did you mean 'mirror'"):
        FetchSettings.from_config({"mirorr": "m"}, source="x")


def test_the_rule_passes_the_mirror_in_the_settings_file(repo_root):
    """The workflow never passes --mirror: the environment keeps its place above the config."""
    rule = (repo_root / "workflow" / "rules" / "fetch.smk").read_text()
    assert "--mirror" not in rule and "--settings {input.settings:q}" in rule
    assert 'settings_file("fetch"' in rule

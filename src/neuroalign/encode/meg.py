"""Story MEG: temporal response functions from word features to every sensor.

The recording is found through mne-bids and read with MNE (MEG channels, resampled to
``sfreq``, z-scored). The predictors are a word-onset impulse plus the leading principal
components of each layer's features; `neuroalign.encoding.pipeline.lag_fit_and_test` fits a
window of lags on all but the last contiguous blocks and scores the held-out ones.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

import mne
import numpy as np
import xarray as xr
from mne_bids import get_bids_path_from_fname

from neuroalign._check import NeuroalignError
from neuroalign._io import atomic_path, provenance
from neuroalign.data.meg_preprocess import preprocess_raw
from neuroalign.data.readers.bids_meg import read_bids_meg
from neuroalign.encode.activations import align_items, read_activations
from neuroalign.encode.bids import meg_recording, read_events
from neuroalign.encode.output import ALPHA_CONVENTION, fit_device, run_config, score_variables
from neuroalign.encode.planted import meg_recovery, read_truth
from neuroalign.encode.settings import EncodeSettings
from neuroalign.encoding.cv import block_labels
from neuroalign.encoding.designs import meg_design, pca_reduce
from neuroalign.encoding.pipeline import lag_fit_and_test
from neuroalign.results import write_netcdf

__all__ = ["encode_meg", "evoked_file"]

logger = logging.getLogger(__name__)


def evoked_file(output: str | Path) -> Path:
    """Where `encode_meg` writes the TRF norms of ``output`` unless told: ``<stem>_trf-ave.fif``."""
    output = Path(output)
    return output.with_name(output.stem + "_trf-ave.fif")


def encode_meg(
    settings: EncodeSettings,
    *,
    activations: str | Path,
    dataset: str | Path,
    subject: str,
    output: str | Path,
    evoked: str | Path | None = None,
) -> Path:
    """Fit TRFs from word features to MEG sensors, score them on held-out blocks, write them.

    Parameters
    ----------
    settings : EncodeSettings
        A ``meg`` entry (`EncodeSettings.from_config`); its options are `MegOptions`.
    activations : str or Path
        The activation store of the recording's story (items matched to its word events).
    dataset : str or Path
        The BIDS dataset folder (``sub-<subject>/meg/*_meg.fif`` with ``*_events.tsv``).
    subject : str
        Subject label without ``sub-``.
    output : str or Path
        The netCDF file to write (sensor-wise r, R^2, alpha, p, q, TRFs, scores by lag and layer).
    evoked : str or Path, optional
        An Evoked FIF of the selected layer's TRF norms; default `evoked_file` of ``output``.

    Returns
    -------
    output : Path

    Raises
    ------
    NeuroalignError
        If the settings are of another kind, or the inputs do not fit together (one line each).
    """
    settings.check_kind("meg")
    opts = settings.options
    dataset, output = Path(dataset), Path(output)
    if not 1 <= opts.test_blocks <= settings.folds - 2:
        raise NeuroalignError(
            f"options.test_blocks {opts.test_blocks} with folds {settings.folds}: hold out at "
            "least 1 block and keep at least 2 for cross-validation (e.g. folds 5, test_blocks 1)."
        )
    device = fit_device(settings)
    alphas = settings.grid
    layers = read_activations(activations, settings.variable, settings.layers)
    recording = meg_recording(dataset, subject, opts.task)
    # any BIDS MEG (KIT, FIF, CTF): good MEG sensors (the channels file's bads and reference
    # channels out), optional notch and band-pass, resampled to sfreq; every step recorded
    rec = read_bids_meg(get_bids_path_from_fname(recording.data))
    raw, steps = preprocess_raw(
        rec.raw, l_freq=opts.l_freq, h_freq=opts.h_freq, notch=list(opts.notch), sfreq=opts.sfreq
    )
    Y = raw.get_data().T
    Y = (Y - Y.mean(0)) / Y.std(0)
    words = read_events(recording.events)
    words = words[words["trial_type"] == "word"] if "trial_type" in words else words
    lags = np.arange(round(opts.tmin * opts.sfreq), round(opts.tmax * opts.sfreq) + 1)
    segments = block_labels(Y.shape[0], settings.folds)
    test_blocks = list(range(settings.folds - opts.test_blocks, settings.folds))
    fits = {}
    for k, da in layers.items():
        text = words["word"].astype(str).tolist()
        idx = align_items(da, text, recording.task, str(recording.events))
        # an onset impulse (all ones) plus the leading components of the model's features
        feats = np.c_[np.ones(len(idx)), pca_reduce(da.values[idx], opts.n_components)]
        X, _ = meg_design(
            feats,
            words["onset"].to_numpy(float),
            np.zeros(len(idx)),
            {0: Y.shape[0]},
            sfreq=opts.sfreq,
        )
        fits[k] = lag_fit_and_test(
            X,
            Y,
            lags,
            alphas,
            segments,
            test_blocks,
            rng=np.random.default_rng(settings.random_seed),
            n_perm=opts.n_perm,
            scoring="r",
            device=device,
            dtype=settings.dtype,
        )
    keys = list(fits)
    cv_by_layer = np.stack([fits[k].cv_score for k in keys])
    selected = keys[int(np.argmax(cv_by_layer.mean(1)))]
    fit = fits[selected]
    ds = xr.Dataset(
        {
            **score_variables(fit, "sensor"),
            "r_by_lag": (("lag", "sensor"), fit.r_by_lag),
            "trf": (("lag", "predictor", "sensor"), fit.coef),
            "r_by_layer": (("layer", "sensor"), np.stack([fits[k].r for k in keys])),
            "cv_by_layer": (("layer", "sensor"), cv_by_layer),
            "best_layer": ("sensor", np.asarray([str(k) for k in keys])[np.argmax(cv_by_layer, 0)]),
        },
        coords={
            "sensor": raw.ch_names,
            "lag": lags / opts.sfreq,
            "layer": [str(k) for k in keys],
            "predictor": ["word_onset", *[f"pc{i}" for i in range(fit.coef.shape[1] - 1)]],
        },
    )
    ds["lag"].attrs["units"] = "s"
    truth = read_truth(dataset)
    summary = meg_recovery(truth, subject, ds) if truth is not None else {}
    ds.attrs.update(
        provenance(
            stage="encode",
            config=run_config(settings, subject=subject),
            seed=settings.random_seed,
            inputs={"meg": recording.data},
            dataset=dataset.name,
            selected_layer=str(selected),
            score=f"Pearson r and R^2 on the last {opts.test_blocks} of {settings.folds} "
            "contiguous blocks, predicted by TRFs fitted on the others (alpha by "
            "leave-one-block-out CV)",
            alpha_convention=ALPHA_CONVENTION,
            null="circular shift of the held-out prediction; p from a normal fitted to each null",
            preprocessing=json.dumps(
                [
                    {
                        "recording": rec.label,
                        "path": str(recording.data),
                        "bads": rec.bads,
                        "steps": steps,
                    }
                ]
            ),
            n_test_samples=int(np.isin(segments, test_blocks).sum()),
            n_lower_edge=fit.n_lower_edge,
            n_upper_edge=fit.n_upper_edge,
            summary=summary,
        )
    )
    write_netcdf(ds, output)
    norm = np.sqrt((fit.coef**2).sum(1)).T  # (sensor, lag)
    trf_norms = mne.EvokedArray(
        norm, raw.info, tmin=float(lags[0] / opts.sfreq), comment=f"TRF norm, layer {selected}"
    )
    with atomic_path(evoked or evoked_file(output)) as tmp:
        trf_norms.save(tmp, verbose="error")
    logger.info("wrote %s (selected layer %s)", output, selected)
    return output

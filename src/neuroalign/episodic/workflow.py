"""What the Snakemake rules of the episodic stage need from the config: each job's settings.

Pure functions of the validated config (a mapping), tested without Snakemake. Each job's
settings file holds only the part of the ``episodic`` section that its step reads, so a job
runs again only when that part changes; the step reads it back as `EpisodicSettings`, whose
defaults fill the rest.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from neuroalign._check import NeuroalignError

__all__ = ["step_settings"]


def step_settings(config: Mapping[str, Any], step: str) -> dict[str, Any]:
    """The settings of the episodic job ``step``: the part of ``episodic`` that it reads.

    The jobs are the steps of `neuroalign.episodic.stage` that the workflow runs: ``human``,
    ``grid``, ``heads``, ``ablate``, ``train`` and ``train_heads`` (the head analysis of a
    training checkpoint). A null ``episodic.seed`` takes the top-level ``seed`` (the grid and
    the training run).

    Raises
    ------
    NeuroalignError
        If ``step`` is not one of these jobs.
    """
    episodic = config["episodic"]
    seed = config["seed"] if episodic["seed"] is None else episodic["seed"]
    parts = {
        "human": {"heads": {"fit_lag": episodic["heads"]["fit_lag"]}},
        "grid": {"grid": episodic["grid"], "seed": seed},
        "heads": {"heads": episodic["heads"], "device": episodic["device"]},
        "ablate": {"heads": episodic["heads"], "device": episodic["device"]},
        "train": {"train": episodic["train"] or {}, "seed": seed},
        "train_heads": {"train_heads": episodic["train_heads"]},
    }
    if step not in parts:
        raise NeuroalignError(
            f"episodic job {step!r} has no settings; the jobs are {', '.join(parts)}."
        )
    return parts[step]

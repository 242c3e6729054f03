"""Image-viewing fMRI: single-trial betas, image tables and noise ceilings.

:func:`read_vision_betas` reads one subject's single-trial responses from a dataset folder
into a :class:`VisionBetas` (trials x voxels, with each trial's image, repeat, session and
train/test split, ROI masks and the volume mask). :func:`read_image_table` lists the images
(``image_id``, ``image`` path relative to the dataset folder, category labels, caption).
Formats (``format=``):

- ``nsd``: Natural Scenes Dataset, ``betas_session<NN>.hdf5`` or ``.nii.gz`` (int16, divide
  by 300 for percent signal change) in ``func1pt8mm``, ``nsd_expdesign.mat`` for the trial
  order, ``nsdgeneral`` and other ROIs; the shared1000 images are the test split.
- ``things``: THINGS-fMRI single-trial betas per run (``betas_vol``) with conditions tables;
  also the layout of the simulated set ``sim_vision``.
- ``bold5000``: BOLD5000 release 2 GLMsingle betas per session with the stimulus lists.
- ``nod``: Natural Object Dataset, per-run surface betas (CIFTI) with label files.
- ``auto``: detected from the files present.

:func:`noise_ceiling` is NSD's (ncsnr-based) noise ceiling, in percent.
"""

from __future__ import annotations

import inspect
import logging
from collections.abc import Callable
from pathlib import Path

import pandas as pd

from neuroalign._check import NeuroalignError, suggest
from neuroalign.data.vision._betas import (
    VisionBetas,
    finite_voxels,
    ncsnr,
    noise_ceiling,
    planted_noise_ceiling,
    repeat_index,
    trials_per_test_image,
    zscore_sessions,
)
from neuroalign.data.vision._betas import zscore_sessions as _zscore
from neuroalign.data.vision._things import is_things, read_things, things_image_table

logger = logging.getLogger(__name__)

FORMATS = ("nsd", "things", "bold5000", "nod")


def _readers() -> dict[str, tuple[Callable, Callable, Callable]]:
    from neuroalign.data.vision import _bold5000, _nod, _nsd

    return {
        "nsd": (_nsd.is_nsd, _nsd.read_nsd, _nsd.nsd_image_table),
        "things": (is_things, read_things, things_image_table),
        "bold5000": (
            _bold5000.is_bold5000,
            _bold5000.read_bold5000,
            _bold5000.bold5000_image_table,
        ),
        "nod": (_nod.is_nod, _nod.read_nod, _nod.nod_image_table),
    }


def detect_format(dataset_dir: str | Path) -> str:
    """Return the format of a vision dataset folder (one of `FORMATS`).

    Raises
    ------
    NeuroalignError
        If the folder does not exist or no known layout is found.
    """
    root = Path(dataset_dir)
    if not root.is_dir():
        raise NeuroalignError(f"dataset folder not found: {root}; fetch or simulate it first.")
    for name, (test, _, _) in _readers().items():
        if test(root):
            return name
    raise NeuroalignError(
        f"{root}: no known vision-betas layout (nsddata/experiments/nsd/nsd_expdesign.mat, "
        "betas_vol/, *GLMbetas*_ses-*.nii.gz, derivatives/ciftify/); pass format= one of "
        f"{', '.join(FORMATS)}."
    )


def _format(dataset_dir: Path, format: str) -> str:
    if format == "auto":
        return detect_format(dataset_dir)
    if format not in FORMATS:
        raise NeuroalignError(
            f"unknown vision format {format!r}; choose auto or one of {', '.join(FORMATS)}."
            f"{suggest(format, FORMATS)}"
        )
    return format


def read_vision_betas(
    dataset_dir: str | Path,
    subject: str,
    *,
    format: str = "auto",
    zscore_sessions: bool = True,
    options: dict | None = None,
) -> VisionBetas:
    """Read one subject's single-trial betas.

    Parameters
    ----------
    dataset_dir : str or Path
        The dataset folder (``<data.root>/raw/<dataset>``).
    subject : str
        Subject label as the dataset numbers them without prefix (``"01"``; NSD ``"1"`` or
        ``"subj01"``; BOLD5000 ``"CSI1"``).
    format : str
        ``"auto"`` (detect) or one of `FORMATS`.
    zscore_sessions : bool
        Z-score each voxel within each session over all its trials (NSD practice; see
        :func:`~neuroalign.data.vision._betas.zscore_sessions`). This uses the session's test
        trials too; pass False to get raw betas and normalize with training statistics only.
        Voxels with a non-finite beta on any trial are set to 0 on every trial, with a
        warning that counts them (`finite_voxels`).
    options : dict, optional
        Options of the format's reader: ``bold5000`` takes ``variant`` (the GLMsingle
        version, default ``"TYPED-FITHRF-GLMDENOISE-RR"``); the others take none.

    Returns
    -------
    betas : VisionBetas
        ``dataset`` is the folder's name.
    """
    root = Path(dataset_dir)
    fmt = _format(root, format)
    reader = _readers()[fmt][1]
    known = list(inspect.signature(reader).parameters)[2:]
    unknown = sorted(set(options or {}) - set(known))
    if unknown:
        raise NeuroalignError(
            f"read_vision_betas: option {unknown[0]!r} is not one of the {fmt} reader's "
            f"({', '.join(known) or 'none'}).{suggest(unknown[0], known)}"
        )
    betas = reader(root, str(subject), **(options or {}))
    bad = finite_voxels(betas)
    if bad.any():
        logger.warning(
            "%s sub-%s: %d of %d voxels have non-finite betas; they are set to 0 and get no score",
            betas.dataset,
            subject,
            int(bad.sum()),
            bad.size,
        )
    if zscore_sessions:
        betas.betas = _zscore(betas.betas, betas.session)
    return betas


def read_image_table(dataset_dir: str | Path, format: str = "auto") -> pd.DataFrame:
    """Return the dataset's images, one row each.

    Columns: ``image_id`` (str, as in `VisionBetas.image_ids`), ``image`` (path relative to the
    dataset folder), category labels where the dataset has them, ``caption`` when present.
    """
    root = Path(dataset_dir)
    fmt = _format(root, format)
    table = _readers()[fmt][2](root)
    return table.reset_index(drop=True)


__all__ = [
    "FORMATS",
    "VisionBetas",
    "detect_format",
    "finite_voxels",
    "ncsnr",
    "noise_ceiling",
    "planted_noise_ceiling",
    "read_image_table",
    "read_vision_betas",
    "repeat_index",
    "trials_per_test_image",
    "zscore_sessions",
]

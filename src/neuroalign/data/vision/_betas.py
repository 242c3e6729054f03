"""Single-trial responses to images: the `VisionBetas` container, z-scoring, noise ceilings."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING

import numpy as np

from neuroalign._check import NeuroalignError

if TYPE_CHECKING:
    import nibabel as nib


@dataclass
class VisionBetas:
    """Single-trial responses of one subject to images, with their design.

    Attributes
    ----------
    betas : ndarray of float32, shape (n_trials, n_voxels)
        One response estimate per trial and voxel.
    image_ids : ndarray of str, shape (n_trials,)
        The image shown on each trial (an ``image_id`` of the dataset's image table).
    repeat : ndarray of int, shape (n_trials,)
        0 for the first presentation of that image, 1 for the second, ... (after
        `average_repeats`: the number of trials averaged).
    session : ndarray of int, shape (n_trials,)
        Scanning session of each trial (1-based as the datasets number them).
    split : ndarray of str, shape (n_trials,)
        ``"train"`` or ``"test"`` (NSD: the shared1000 images are the test set; THINGS-fMRI:
        the repeated test images; BOLD5000 and NOD: the repeated images).
    rois : dict of str to ndarray of bool, shape (n_voxels,)
        Named regions of interest among the voxels.
    mask : nibabel.Nifti1Image or None
        Volume mask; the voxels are its nonzero voxels in C order. None for surface data.
    dataset, subject : str
        Where the responses come from.
    """

    betas: np.ndarray
    image_ids: np.ndarray
    repeat: np.ndarray
    session: np.ndarray
    split: np.ndarray
    rois: dict[str, np.ndarray] = field(default_factory=dict)
    mask: nib.Nifti1Image | None = None
    dataset: str = ""
    subject: str = ""

    def __post_init__(self) -> None:
        self.betas = np.asarray(self.betas, dtype=np.float32)
        if self.betas.ndim != 2:
            raise NeuroalignError(
                f"{self.dataset or 'betas'}: betas must be (n_trials, n_voxels); got shape "
                f"{self.betas.shape}."
            )
        n, v = self.betas.shape
        self.image_ids = np.asarray(self.image_ids).astype(object).astype(str)
        self.repeat = np.asarray(self.repeat, dtype=np.int64)
        self.session = np.asarray(self.session, dtype=np.int64)
        self.split = np.asarray(self.split).astype(object).astype(str)
        for name in ("image_ids", "repeat", "session", "split"):
            if getattr(self, name).shape != (n,):
                raise NeuroalignError(
                    f"{self.dataset or 'betas'}: field {name!r} has shape "
                    f"{getattr(self, name).shape}; it needs one value per trial ({n})."
                )
        bad = sorted(set(self.split) - {"train", "test"})
        if bad:
            raise NeuroalignError(
                f"{self.dataset or 'betas'}: field 'split' holds {bad}; use 'train' or 'test'."
            )
        self.rois = {k: np.asarray(m, dtype=bool) for k, m in self.rois.items()}
        for name, m in self.rois.items():
            if m.shape != (v,):
                raise NeuroalignError(
                    f"{self.dataset or 'betas'}: ROI {name!r} has {m.size} entries; it needs one "
                    f"per voxel ({v})."
                )
        if self.mask is not None:
            n_mask = int(np.count_nonzero(np.asanyarray(self.mask.dataobj)))
            if n_mask != v:
                raise NeuroalignError(
                    f"{self.dataset or 'betas'}: the mask has {n_mask} voxels but the betas have "
                    f"{v}; the voxels must be the mask's nonzero voxels in C order."
                )

    @property
    def n_trials(self) -> int:
        """Number of trials (rows)."""
        return self.betas.shape[0]

    @property
    def n_voxels(self) -> int:
        """Number of voxels (columns)."""
        return self.betas.shape[1]

    def select(self, rows: np.ndarray) -> VisionBetas:
        """Return the trials ``rows`` (an index or a boolean mask), same voxels."""
        rows = np.asarray(rows)
        return replace(
            self,
            betas=self.betas[rows],
            image_ids=self.image_ids[rows],
            repeat=self.repeat[rows],
            session=self.session[rows],
            split=self.split[rows],
        )

    def average_repeats(self) -> VisionBetas:
        """Return one row per image: the mean over its trials (``repeat`` = number of trials).

        Rows are in order of each image's first presentation; ``session`` is that of the
        first presentation; an image's split is ``"test"`` if any of its trials is.
        """
        ids, first, inverse, counts = np.unique(
            self.image_ids, return_index=True, return_inverse=True, return_counts=True
        )
        sums = np.zeros((len(ids), self.n_voxels), dtype=np.float64)
        np.add.at(sums, inverse, self.betas)
        means = (sums / counts[:, None]).astype(np.float32)
        test = np.zeros(len(ids), dtype=bool)
        np.logical_or.at(test, inverse, self.split == "test")
        order = np.argsort(first, kind="stable")
        return replace(
            self,
            betas=means[order],
            image_ids=ids[order],
            repeat=counts[order],
            session=self.session[first][order],
            split=np.where(test, "test", "train")[order],
        )

    def to_volume(self, values: np.ndarray) -> nib.Nifti1Image:
        """Return per-voxel values as a NIfTI image in the mask's space (zeros outside).

        Parameters
        ----------
        values : ndarray, shape (n_voxels,) or (k, n_voxels)
            One map, or k maps (a 4-D image with k volumes).

        Raises
        ------
        NeuroalignError
            If there is no volume mask or ``values`` does not have one value per voxel.
        """
        import nibabel as nib

        if self.mask is None:
            raise NeuroalignError(
                f"{self.dataset} sub-{self.subject}: no volume mask (surface data); save the "
                "values per vertex instead."
            )
        values = np.asarray(values)
        if values.shape[-1] != self.n_voxels or values.ndim not in (1, 2):
            raise NeuroalignError(
                f"to_volume: values have shape {values.shape}; expected ({self.n_voxels},) or "
                f"(k, {self.n_voxels})."
            )
        inside = np.asanyarray(self.mask.dataobj) != 0
        maps = np.atleast_2d(values).astype(np.float32)
        out = np.zeros((*inside.shape, len(maps)), dtype=np.float32)
        out[inside] = maps.T
        if values.ndim == 1:
            out = out[..., 0]
        return nib.Nifti1Image(out, self.mask.affine)


def zscore_sessions(betas: np.ndarray, session: np.ndarray) -> np.ndarray:
    """Return betas z-scored per voxel within each session (mean 0, SD 1 over its trials).

    This is what NSD's analyses do to single-trial betas before averaging repeats and before
    the noise ceiling. It uses every trial of the session, test trials included: a reader-level
    normalization, not a fit. A decoder that must keep test trials out of its training
    statistics should read with ``zscore_sessions=False`` and normalize itself. Voxels that
    are constant in a session get 0.
    """
    betas = np.asarray(betas, dtype=np.float64)
    out = np.empty_like(betas)
    for s in np.unique(session):
        rows = session == s
        block = betas[rows]
        mean = block.mean(axis=0)
        sd = block.std(axis=0)
        out[rows] = np.divide(block - mean, sd, out=np.zeros_like(block), where=sd > 0)
    return out.astype(np.float32)


def ncsnr(betas: VisionBetas, zscore: bool = True) -> np.ndarray:
    """Return each voxel's noise-ceiling SNR (NSD's ``ncsnr``).

    For every image with two or more trials the variance over its trials (ddof 1) is the
    noise variance; averaged over those images it is ``noise_var``. NSD z-scores the betas
    within session first (``zscore``), so the total variance is 1 and the signal variance
    ``1 - noise_var``::

        ncsnr = sqrt(max(1 - noise_var, 0) / noise_var)

    Without ``zscore`` (betas scored as they are read) the total variance is the variance of
    all trials, and the signal variance ``max(total_var - noise_var, 0)``: the same SNR of the
    responses the encoder is scored on.

    Returns
    -------
    ncsnr : ndarray, shape (n_voxels,)

    Raises
    ------
    NeuroalignError
        If no image was shown twice.
    """
    if zscore:
        values = zscore_sessions(betas.betas, betas.session).astype(np.float64)
    else:
        values = np.asarray(betas.betas, np.float64)
    ids, inverse, counts = np.unique(betas.image_ids, return_inverse=True, return_counts=True)
    repeated = counts[inverse] >= 2
    if not repeated.any():
        raise NeuroalignError(
            f"{betas.dataset} sub-{betas.subject}: no image was shown twice, so there is no "
            "noise ceiling; read sessions that repeat images."
        )
    rows, groups = values[repeated], inverse[repeated]
    n_img = len(ids)
    sums = np.zeros((n_img, values.shape[1]))
    sq = np.zeros((n_img, values.shape[1]))
    np.add.at(sums, groups, rows)
    np.add.at(sq, groups, rows**2)
    n = counts.astype(float)[:, None]
    keep = counts >= 2
    var = (sq[keep] - sums[keep] ** 2 / n[keep]) / (n[keep] - 1)
    noise_var = var.mean(axis=0)
    total_var = 1.0 if zscore else values.var(axis=0)
    signal_var = np.maximum(total_var - noise_var, 0.0)
    return np.sqrt(
        np.divide(signal_var, noise_var, out=np.zeros_like(noise_var), where=noise_var > 0)
    )


def trials_per_test_image(betas: VisionBetas) -> np.ndarray:
    """Trials of each test image (an image is a test image if any of its trials is; all its
    trials count, as `average_repeats` averages them); every image when none is marked test."""
    test = np.isin(betas.image_ids, betas.image_ids[betas.split == "test"])
    ids = betas.image_ids[test] if test.any() else betas.image_ids
    return np.unique(ids, return_counts=True)[1]


def noise_ceiling(
    betas: VisionBetas, n_average: int | None = None, *, zscore: bool = True
) -> np.ndarray:
    """Return each voxel's noise ceiling in percent of variance (NSD's definition).

    ``NC = 100 * ncsnr**2 / (ncsnr**2 + 1 / n)``: the percentage of the variance of a
    response averaged over ``n`` trials that a perfect model of the image-driven signal could
    explain (Allen et al. 2022, Methods; `ncsnr` gives the SNR). When the test images were
    seen different numbers of times (NSD subjects who did not finish all sessions), ``1 / n``
    is the mean over the test images of one over each image's trials, the NSD data manual's
    ``(A/3 + B/2 + C/1) / (A + B + C)`` for A, B and C images with 3, 2 and 1 trials.

    Parameters
    ----------
    betas : VisionBetas
        Single-trial betas (not averaged), with repeated images.
    n_average : int, optional
        Number of trials averaged in every response the ceiling is for; None: each test
        image's own number of trials (`trials_per_test_image`), as the trial-averaged test
        responses have them.
    zscore : bool
        Whether the SNR is of session-z-scored betas (NSD; `ncsnr`).

    Returns
    -------
    nc : ndarray, shape (n_voxels,)
        In percent, 0..100.
    """
    snr = ncsnr(betas, zscore=zscore)
    if n_average is None:
        inverse_n = float(np.mean(1.0 / trials_per_test_image(betas)))
    elif n_average < 1:
        raise NeuroalignError(f"noise_ceiling: n_average must be >= 1; got {n_average}.")
    else:
        inverse_n = 1.0 / n_average
    return 100.0 * snr**2 / (snr**2 + inverse_n)


def finite_voxels(betas: VisionBetas) -> np.ndarray:
    """Set every voxel with a non-finite beta to 0 on all trials, in place; return their mask.

    Such voxels (outside the brain in some releases, or failed fits) would spread NaN into
    session z-scores and averages; as constants they get no score and no ceiling, and the
    voxel order (the mask's) is kept.
    """
    bad = ~np.isfinite(betas.betas).all(axis=0)
    if bad.any():
        betas.betas[:, bad] = 0.0
    return bad


def planted_noise_ceiling(snr: np.ndarray, n_average: int) -> np.ndarray:
    """Return the noise ceiling (percent) of voxels whose signal SD / noise SD is ``snr``."""
    snr = np.asarray(snr, dtype=float)
    return 100.0 * snr**2 / (snr**2 + 1.0 / n_average)


def repeat_index(image_ids: np.ndarray) -> np.ndarray:
    """Return, for each trial, how many earlier trials showed the same image (0 = first)."""
    seen: dict[str, int] = {}
    out = np.empty(len(image_ids), dtype=np.int64)
    for i, image in enumerate(np.asarray(image_ids).astype(str)):
        out[i] = seen.get(image, 0)
        seen[image] = out[i] + 1
    return out

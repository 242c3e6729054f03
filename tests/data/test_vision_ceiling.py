"""NSD's noise ceiling for test images seen different numbers of times, on raw or z-scored
betas, and voxels with non-finite betas."""

from __future__ import annotations

import numpy as np
import pytest

from neuroalign.data.vision import (
    VisionBetas,
    finite_voxels,
    ncsnr,
    noise_ceiling,
    trials_per_test_image,
)


def _betas(counts, snr, seed=0, offsets=False):
    """Images 0.. with ``counts[i]`` trials each; the first len(test) images are test."""
    rng = np.random.default_rng(seed)
    counts = np.asarray(counts)
    ids = np.repeat(np.arange(counts.size), counts)
    signal = rng.standard_normal((counts.size, snr.size)) * snr
    betas = signal[ids] + rng.standard_normal((ids.size, snr.size))
    repeat = np.concatenate([np.arange(c) for c in counts])
    session = repeat + 1
    if offsets:
        betas = betas + 3.0 * session[:, None]
    return VisionBetas(
        betas=betas,
        image_ids=ids.astype(str),
        repeat=repeat,
        session=session,
        split=np.where(ids < 100, "test", "train"),
    )


def test_mixed_repeats_use_the_data_manuals_formula():
    # 100 test images: 50 seen three times, 30 twice, 20 once; training images three times.
    counts = np.r_[np.full(50, 3), np.full(30, 2), np.full(20, 1), np.full(400, 3)]
    snr = np.linspace(0.2, 1.5, 12)
    betas = _betas(counts, snr)
    assert sorted(trials_per_test_image(betas)) == sorted(counts[:100])
    s = ncsnr(betas)
    mean_inverse_n = (50 / 3 + 30 / 2 + 20 / 1) / 100
    np.testing.assert_allclose(noise_ceiling(betas), 100 * s**2 / (s**2 + mean_inverse_n))
    # Not the ceiling of three-trial averages, which the most common count would give.
    assert (noise_ceiling(betas) < noise_ceiling(betas, n_average=3) - 1).all()
    np.testing.assert_allclose(noise_ceiling(betas, n_average=3), 100 * s**2 / (s**2 + 1 / 3))


def test_raw_betas_give_the_snr_of_what_is_scored():
    snr = np.repeat([0.5, 1.0, 2.0], 30)
    betas = _betas(np.full(600, 3), snr, seed=1)
    raw = ncsnr(betas, zscore=False).reshape(3, 30).mean(1)
    np.testing.assert_allclose(raw, [0.5, 1.0, 2.0], rtol=0.06)
    # Session offsets are noise to raw betas (repeats fall in different sessions), not to
    # session-z-scored ones.
    shifted = _betas(np.full(600, 3), snr, seed=1, offsets=True)
    assert (ncsnr(shifted, zscore=False) < 0.7 * ncsnr(shifted)).all()
    np.testing.assert_allclose(ncsnr(shifted).reshape(3, 30).mean(1), [0.5, 1.0, 2.0], rtol=0.1)


def test_non_finite_voxels_are_zeroed_whole():
    betas = _betas(np.full(20, 2), np.ones(4))
    betas.betas[3, 1] = np.nan
    betas.betas[0, 2] = np.inf
    bad = finite_voxels(betas)
    assert bad.tolist() == [False, True, True, False]
    assert (betas.betas[:, bad] == 0).all() and np.isfinite(betas.betas).all()
    assert np.isfinite(noise_ceiling(betas)).all()


@pytest.mark.parametrize("n_average", [0, -2])
def test_n_average_must_be_positive(n_average):
    betas = _betas(np.full(20, 2), np.ones(2))
    with pytest.raises(Exception, match="n_average"):
        noise_ceiling(betas, n_average=n_average)

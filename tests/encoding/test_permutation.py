import numpy as np
import pytest

from neuroalign.encoding.permutation import (
    freedman_lane_responses,
    permutations,
    permuted_responses,
    unstack,
)


def test_permutations_are_permutations_and_stay_in_their_blocks():
    rng = np.random.default_rng(0)
    blocks = np.repeat([3, 1, 2], [4, 1, 5])
    index = permutations(10, 200, rng, blocks)
    assert index.shape == (200, 10)
    assert all(sorted(row) == list(range(10)) for row in index)
    assert np.all(blocks[index] == blocks)  # nobody leaves its block
    assert np.all(index[:, 4] == 4)  # a block of one never moves
    # every order of a block shows up about equally often: position 0 takes each of 0..3
    counts = np.bincount(index[:, 0], minlength=4)
    assert counts.min() > 30
    free = permutations(10, 200, np.random.default_rng(0))
    assert np.mean(blocks[free] != blocks) > 0.5
    assert permutations(10, 0, rng).shape == (0, 10)
    with pytest.raises(ValueError, match="one label per sample"):
        permutations(10, 5, rng, blocks[:9])


def test_stacked_layout_and_unstack():
    rng = np.random.default_rng(1)
    Y = rng.standard_normal((6, 2))
    index = permutations(6, 3, rng)
    stacked = permuted_responses(Y, index)
    assert stacked.shape == (6, 6)
    for k in range(3):
        for j in range(2):
            np.testing.assert_array_equal(stacked[:, k * 2 + j], Y[index[k], j])
    scores = np.arange(6.0)
    np.testing.assert_array_equal(unstack(scores, 3), [[0, 1], [2, 3], [4, 5]])
    assert permuted_responses(Y[:, 0], index).shape == (6, 3)


def test_freedman_lane_is_fit_plus_permuted_residuals():
    rng = np.random.default_rng(2)
    B = rng.standard_normal((50, 2))
    Y = np.c_[1 + B @ [2.0, -1.0] + rng.standard_normal(50), rng.standard_normal(50)]
    same = freedman_lane_responses(Y, B, np.arange(50)[None])
    np.testing.assert_allclose(same, Y, atol=1e-12)  # the identity permutation gives Y back
    index = permutations(50, 4, rng)
    null = freedman_lane_responses(Y, B, index)
    design = np.c_[np.ones(50), B]
    coef, *_ = np.linalg.lstsq(design, Y, rcond=None)
    fitted, resid = design @ coef, Y - design @ coef
    for k in range(4):
        np.testing.assert_allclose(null[:, 2 * k : 2 * k + 2], fitted + resid[index[k]])

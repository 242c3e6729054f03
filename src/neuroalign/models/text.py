"""Text inputs: words with a running context, or whole sentences, aligned to tokens by offsets.

Word-level stimuli are fed the way encoding studies do it: each model input holds ``stride``
target words preceded by (up to) ``n_words`` words of context from the same run and story. The
tokenizer's offset mapping tells which tokens make each target word; a word that yields no token,
or a token that spans two words, is an error (the table and the tokenizer disagree on words).

A story is the words of a (run, story) joined by single spaces, and a window is its text from
the space before the window's first word (none at the story's start). Each story is tokenized
once and each window is a range of those tokens between the model's special tokens; a sample
of windows is checked against tokenizing the window's own text, and a tokenizer for which they
differ gets one tokenization per window instead. Inputs are held as flat arrays
(:class:`TextWork`), so cutting, sorting and padding batches are array operations.
:class:`TextStream` tokenizes a table part by part on a thread, so a run starts on its first
inputs while the rest of the corpus is being tokenized.
"""

from __future__ import annotations

import dataclasses
import itertools
import logging
import re
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import torch

from neuroalign._check import NeuroalignError
from neuroalign.models.pooling import PoolPlan

logger = logging.getLogger(__name__)

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


def parse_context(spec: Any) -> ContextPolicy:
    """Parse a context setting: ``"sentence"``, ``{words: N, stride: S}`` or ``"words:N[:stride]"``.

    Parameters
    ----------
    spec : str, mapping, ContextPolicy or settings object
        ``"sentence"``; a mapping (or an object with attributes) ``words`` and optionally
        ``stride`` (the config's form); or the short string ``"words:N[:stride]"``.

    Examples
    --------
    >>> parse_context({"words": 20, "stride": 4})
    ContextPolicy(kind='words', n_words=20, stride=4)
    >>> parse_context("words:20:4")
    ContextPolicy(kind='words', n_words=20, stride=4)
    """
    if isinstance(spec, ContextPolicy):
        return spec
    if not isinstance(spec, str):
        if isinstance(spec, Mapping):
            words, stride = spec.get("words"), spec.get("stride", 1)
        else:
            words, stride = getattr(spec, "words", None), getattr(spec, "stride", 1)
        if not isinstance(words, int) or words < 0 or not isinstance(stride, int) or stride < 1:
            raise NeuroalignError(
                f"context {spec!r} must be 'sentence' or {{words: N, stride: S}} with N >= 0 "
                "previous words of the same story and S >= 1 target words per input"
            )
        return ContextPolicy("words", words, stride)
    match = _CONTEXT.match(spec.strip())
    if not match:
        raise NeuroalignError(
            f"context {spec!r} must be 'sentence' or {{words: N, stride: S}} (N previous words "
            "of the same story, S target words per input; short form 'words:N[:S]')"
        )
    if spec.strip() == "sentence":
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
    space_before : bool, default=False
        Whether the text starts with the space that precedes its first word in the story (so
        the first word is tokenized as it is in the story, e.g. GPT-2's leading-space tokens).
    """

    rows: np.ndarray
    n_context: int
    space_before: bool = False

    @property
    def targets(self) -> np.ndarray:
        """Table rows of the target items."""
        return self.rows[self.n_context :]

    def text(self, texts: np.ndarray) -> str:
        """The input text: the words joined by single spaces (after a space if ``space_before``)."""
        return (" " if self.space_before else "") + " ".join(texts[self.rows].tolist())

    def target_spans(self, texts: np.ndarray) -> list[tuple[int, int]]:
        """Character span of each target word in :meth:`text`."""
        end = len(self.text(texts))
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


def _window_bounds(n_words: int, policy: ContextPolicy) -> tuple[np.ndarray, ...]:
    """First word, first target and end (exclusive) of each window of a story of ``n_words``."""
    target = np.arange(0, n_words, policy.stride, dtype=np.int64)
    stop = np.minimum(n_words, target + policy.stride)
    return np.maximum(0, target - policy.n_words), target, stop


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
        for first, target, stop in zip(*_window_bounds(len(rows), policy), strict=True):
            windows.append(TextWindow(rows[first:stop], int(target - first), bool(first > 0)))
    return windows


def _ranges(starts: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """Concatenation of ``arange(s, s + c)`` for each start and count."""
    counts = np.asarray(counts, dtype=np.int64)
    offsets = np.cumsum(counts) - counts
    return np.repeat(np.asarray(starts, dtype=np.int64) - offsets, counts) + np.arange(
        counts.sum(), dtype=np.int64
    )


@dataclass
class TextWork:
    """Tokenized model inputs as flat arrays.

    Window ``i`` is ``prefix + tokens[start[i] : start[i] + length[i]] + suffix``; its target
    items are ``rows[ptr[i] : ptr[i + 1]]``, and target ``j`` is made of the window's content
    tokens ``lo[j]`` to ``hi[j] - 1`` (counted from the first token after ``prefix``).

    Attributes
    ----------
    tokens : ndarray of int64
        Token ids the windows are cut from (shared, never copied by :meth:`take`).
    start, length : ndarray of shape (n_windows,)
        Where each window's content starts in ``tokens`` and how many tokens it has.
    prefix, suffix : ndarray of int64
        Special tokens before and after every window's content.
    ptr : ndarray of shape (n_windows + 1,)
        Offsets of each window's targets in ``rows``, ``lo`` and ``hi``.
    rows, lo, hi : ndarray of shape (n_targets,)
        Table row and content token range of each target.
    """

    tokens: np.ndarray
    start: np.ndarray
    length: np.ndarray
    prefix: np.ndarray
    suffix: np.ndarray
    ptr: np.ndarray
    rows: np.ndarray
    lo: np.ndarray
    hi: np.ndarray

    def __len__(self) -> int:
        return len(self.start)

    @property
    def n_tokens(self) -> np.ndarray:
        """Tokens of each window, special tokens included."""
        return self.length + len(self.prefix) + len(self.suffix)

    def input_ids(self, i: int) -> np.ndarray:
        """Token ids of window ``i``, special tokens included."""
        body = self.tokens[self.start[i] : self.start[i] + self.length[i]]
        return np.concatenate([self.prefix, body, self.suffix])

    def take(self, index: np.ndarray) -> TextWork:
        """The windows at ``index`` (in that order), with their targets."""
        index = np.asarray(index, dtype=np.int64)
        counts = self.ptr[index + 1] - self.ptr[index]
        sel = _ranges(self.ptr[index], counts)
        return TextWork(
            tokens=self.tokens,
            start=self.start[index],
            length=self.length[index],
            prefix=self.prefix,
            suffix=self.suffix,
            ptr=np.concatenate([[0], np.cumsum(counts)]).astype(np.int64),
            rows=self.rows[sel],
            lo=self.lo[sel],
            hi=self.hi[sel],
        )


def _require_fast(tokenizer: Any) -> None:
    if not getattr(tokenizer, "is_fast", False):
        raise NeuroalignError(
            f"{type(tokenizer).__name__} is a slow tokenizer without offset mappings; the model "
            "needs a tokenizer.json (fast tokenizer) for word alignment"
        )


def _special_template(tokenizer: Any) -> tuple[np.ndarray, np.ndarray]:
    """Special token ids the tokenizer puts before and after a text."""
    enc = tokenizer("a", add_special_tokens=True, return_special_tokens_mask=True)
    ids, special = np.asarray(enc["input_ids"]), np.asarray(enc["special_tokens_mask"], bool)
    body = np.flatnonzero(~special)
    if not len(body):
        return ids[:0].astype(np.int64), ids[:0].astype(np.int64)
    return ids[: body[0]].astype(np.int64), ids[body[-1] + 1 :].astype(np.int64)


def _no_token_error(item: Any, word: str) -> NeuroalignError:
    return NeuroalignError(
        f"stimulus item {item} ({word!r}) gives no token with this tokenizer; fix the word in "
        "the stimulus table (empty or only characters the tokenizer drops?)"
    )


def _too_long_error(first: Any, last: Any, n_tokens: int, max_tokens: int) -> NeuroalignError:
    return NeuroalignError(
        f"stimulus items {first}-{last} need {n_tokens} tokens, more than the model's "
        f"{max_tokens}; use a smaller stride or shorter sentences"
    )


def _spans_error(item: Any, piece: str, word: str) -> NeuroalignError:
    return NeuroalignError(
        f"stimulus item {item}: token {piece!r} spans word {word!r} and its neighbour; the "
        "words in the table do not match this tokenizer's word boundaries"
    )


def _word_tokens(
    words: list[str], offsets: np.ndarray, rows: np.ndarray, items: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """First and end (exclusive) token of each word of a story from the tokens' offsets.

    The story is ``" ".join(words)``; a token belongs to the word whose characters it covers
    (the separating spaces belong to no word). A token over two words, or a word without a
    token, raises.
    """
    n_words = len(words)
    size = np.fromiter(map(len, words), dtype=np.int64, count=n_words)
    begin = np.cumsum(size + 1) - size - 1
    text_len = int(begin[-1] + size[-1]) if n_words else 0
    owner = np.full(text_len + 1, -1, dtype=np.int64)  # one sentinel character at the end
    owner[_ranges(begin, size)] = np.repeat(np.arange(n_words, dtype=np.int64), size)
    real = np.flatnonzero(offsets[:, 1] > offsets[:, 0])
    bounds = offsets[real].reshape(-1)
    high = np.maximum.reduceat(owner, bounds)[::2]
    low = np.minimum.reduceat(np.where(owner < 0, n_words, owner), bounds)[::2]
    inside = high >= 0
    split = np.flatnonzero(inside & (low != high))
    if len(split):
        t = real[split[0]]
        text = " ".join(words)
        w = int(low[split[0]])
        raise _spans_error(items[rows[w]], text[offsets[t, 0] : offsets[t, 1]], words[w])
    token, word = real[inside], high[inside]
    first = np.searchsorted(word, np.arange(n_words), side="left")
    stop = np.searchsorted(word, np.arange(n_words), side="right")
    missing = np.flatnonzero(first == stop)
    if len(missing):
        raise _no_token_error(items[rows[missing[0]]], words[missing[0]])
    return token[first], token[stop - 1] + 1


def _story_work(
    tokenizer: Any,
    groups: list[np.ndarray],
    texts: np.ndarray,
    items: np.ndarray,
    policy: ContextPolicy,
    max_tokens: int,
) -> tuple[TextWork, list[tuple[np.ndarray, ...]]]:
    """Windows cut from one tokenization per story, and each story's rows and window bounds
    (first word, first target, end) after fitting the model."""
    stories = [texts[rows].tolist() for rows in groups]
    encoded = tokenizer(
        [" ".join(words) for words in stories],
        return_offsets_mapping=True,
        add_special_tokens=False,
        verbose=False,
    )
    prefix, suffix = _special_template(tokenizer)
    room = max_tokens - len(prefix) - len(suffix)
    parts: dict[str, list[np.ndarray]] = {k: [] for k in ("tokens", "start", "len", "n", "row")}
    parts.update(lo=[], hi=[])
    bounds = []
    base = 0
    for s, (rows, words) in enumerate(zip(groups, stories, strict=True)):
        ids = np.asarray(encoded["input_ids"][s], dtype=np.int64)
        offsets = np.asarray(encoded["offset_mapping"][s], dtype=np.int64).reshape(-1, 2)
        w_first, w_stop = _word_tokens(words, offsets, rows, items)
        first, target, stop = _window_bounds(len(rows), policy)
        end = w_stop[stop - 1]
        # Drop context words from the left until the window fits the model.
        fit = np.searchsorted(w_first, end - room, side="left")
        first = np.maximum(first, fit)
        too_long = np.flatnonzero(first > target)
        if len(too_long):
            w = too_long[0]
            n_needed = int(end[w] - w_first[target[w]]) + len(prefix) + len(suffix)
            raise _too_long_error(
                items[rows[target[w]]], items[rows[stop[w] - 1]], n_needed, max_tokens
            )
        counts = stop - target
        owner = np.repeat(np.arange(len(target)), counts)
        targets = _ranges(target, counts)
        parts["tokens"].append(ids)
        parts["start"].append(base + w_first[first])
        parts["len"].append(end - w_first[first])
        parts["n"].append(counts)
        parts["row"].append(rows[targets])
        parts["lo"].append(w_first[targets] - w_first[first][owner])
        parts["hi"].append(w_stop[targets] - w_first[first][owner])
        bounds.append((rows, first, target, stop))
        base += len(ids)
    counts = np.concatenate(parts["n"])
    work = TextWork(
        tokens=np.concatenate(parts["tokens"]),
        start=np.concatenate(parts["start"]),
        length=np.concatenate(parts["len"]),
        prefix=prefix,
        suffix=suffix,
        ptr=np.concatenate([[0], np.cumsum(counts)]).astype(np.int64),
        rows=np.concatenate(parts["row"]),
        lo=np.concatenate(parts["lo"]),
        hi=np.concatenate(parts["hi"]),
    )
    return work, bounds


def _as_windows(
    bounds: list[tuple[np.ndarray, ...]], index: np.ndarray | None = None
) -> list[TextWindow]:
    """:class:`TextWindow` objects of the windows at ``index`` (all if None)."""
    flat = [
        (rows, a, b, c)
        for rows, first, target, stop in bounds
        for a, b, c in zip(first.tolist(), target.tolist(), stop.tolist(), strict=True)
    ]
    picked = flat if index is None else [flat[i] for i in index]
    return [TextWindow(rows[a:c], b - a, a > 0) for rows, a, b, c in picked]


def tokenize_stories(
    tokenizer: Any,
    table: pd.DataFrame,
    policy: ContextPolicy,
    max_tokens: int,
    n_checked: int = 16,
) -> TextWork:
    """Tokenize a stimulus table's inputs and align their target words to tokens.

    With word context each story is tokenized once and the windows are cut from its tokens;
    ``n_checked`` windows spread over the corpus are also tokenized on their own, and if any
    differs (a tokenizer whose tokens depend on the text around a word) every window is
    tokenized on its own (:func:`tokenize_windows`). Sentences are tokenized in one call
    (:func:`tokenize_sentences`).

    Parameters
    ----------
    tokenizer : PreTrainedTokenizerFast
        A fast tokenizer (it must return offset mappings).
    table : DataFrame
        Stimulus table with a ``text`` column (and ``run``/``story`` for word context).
    policy : ContextPolicy
        Word context or whole sentences.
    max_tokens : int
        Longest input the model takes; context words are dropped from the left to fit.
    n_checked : int, default=16
        Windows checked against their own tokenization.

    Returns
    -------
    work : TextWork
        One window per input, in the order of :func:`build_windows`.
    """
    _require_fast(tokenizer)
    texts = table["text"].astype(str).to_numpy()
    items = table["item"].to_numpy() if "item" in table else np.arange(len(table))
    if policy.kind == "sentence":
        return tokenize_sentences(tokenizer, texts, items, max_tokens)
    if not len(table):
        return tokenize_windows(tokenizer, build_windows(table, policy), texts, items, max_tokens)
    work, bounds = _story_work(tokenizer, _groups(table), texts, items, policy, max_tokens)
    sample = np.unique(np.linspace(0, len(work) - 1, n_checked).round().astype(np.int64))
    checked = _as_windows(bounds, sample)
    own = tokenizer([w.text(texts) for w in checked], add_special_tokens=True)
    for i, ids in zip(sample, own["input_ids"], strict=True):
        if not np.array_equal(work.input_ids(int(i)), ids):
            logger.info(
                "%s tokenizes words differently inside a story; tokenizing each window",
                type(tokenizer).__name__,
            )
            return tokenize_windows(tokenizer, _as_windows(bounds), texts, items, max_tokens)
    return work


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
            raise _no_token_error(items[row], texts[row])
        for t in (hit[0], hit[-1]):
            piece = text[offsets[t][0] : offsets[t][1]]
            lo = offsets[t][0] + len(piece) - len(piece.lstrip())
            hi = offsets[t][1] - (len(piece) - len(piece.rstrip()))
            if lo < ws or hi > we:
                raise _spans_error(items[row], piece, text[ws:we])
        positions.append(np.array(hit, dtype=np.int64))
    return positions


def tokenize_windows(
    tokenizer: Any,
    windows: list[TextWindow],
    texts: np.ndarray,
    items: np.ndarray,
    max_tokens: int,
) -> TextWork:
    """Tokenize each window on its own and align its target words to tokens.

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
    work : TextWork
    """
    _require_fast(tokenizer)
    prefix, suffix = _special_template(tokenizer)
    encoded = tokenizer(
        [w.text(texts) for w in windows],
        return_offsets_mapping=True,
        add_special_tokens=True,
        verbose=False,
    )
    bodies, rows, lo, hi, counts = [], [], [], [], []
    for i, window in enumerate(windows):
        ids, offsets = encoded["input_ids"][i], encoded["offset_mapping"][i]
        while len(ids) > max_tokens and window.n_context > 0:
            drop = max(1, window.n_context // 4)
            window = TextWindow(window.rows[drop:], window.n_context - drop, True)
            one = tokenizer(
                window.text(texts), return_offsets_mapping=True, add_special_tokens=True
            )
            ids, offsets = one["input_ids"], one["offset_mapping"]
        if len(ids) > max_tokens:
            raise _too_long_error(
                items[window.targets[0]], items[window.targets[-1]], len(ids), max_tokens
            )
        positions = _align(window, texts, offsets, items)
        bodies.append(np.asarray(ids[len(prefix) : len(ids) - len(suffix)], dtype=np.int64))
        rows.append(window.targets)
        lo.extend(p[0] - len(prefix) for p in positions)
        hi.extend(p[-1] + 1 - len(prefix) for p in positions)
        counts.append(len(positions))
    length = np.array([len(b) for b in bodies], dtype=np.int64)
    return TextWork(
        tokens=np.concatenate(bodies) if bodies else np.zeros(0, np.int64),
        start=np.cumsum(length) - length,
        length=length,
        prefix=prefix,
        suffix=suffix,
        ptr=np.concatenate([[0], np.cumsum(counts)]).astype(np.int64),
        rows=np.concatenate(rows).astype(np.int64) if rows else np.zeros(0, np.int64),
        lo=np.array(lo, dtype=np.int64),
        hi=np.array(hi, dtype=np.int64),
    )


def _encode(tokenizer: Any, texts: list[str], n_checked: int = 16) -> tuple[list, list]:
    """Token ids and character offsets of each text, with special tokens.

    Straight from the Rust tokenizer behind ``tokenizer`` when it has no truncation or padding
    set and gives what ``tokenizer(...)`` gives on ``n_checked`` texts spread over the list (it
    skips the conversion of every encoding to Python dicts); else through ``tokenizer(...)``.
    """

    def called(batch: list[str]) -> tuple[list, list]:
        out = tokenizer(
            batch,
            return_offsets_mapping=True,
            return_attention_mask=False,
            return_token_type_ids=False,
            add_special_tokens=True,
            verbose=False,
        )
        return out["input_ids"], [[tuple(o) for o in offs] for offs in out["offset_mapping"]]

    backend = getattr(tokenizer, "backend_tokenizer", None)
    if backend is None or backend.truncation is not None or backend.padding is not None:
        return called(texts)
    sample = [texts[i] for i in np.unique(np.linspace(0, len(texts) - 1, n_checked).astype(int))]
    if called(sample) != _rust_encode(backend, sample):
        return called(texts)
    return _rust_encode(backend, texts)


def _rust_encode(backend: Any, texts: list[str]) -> tuple[list, list]:
    encodings = backend.encode_batch(texts, add_special_tokens=True)
    return [e.ids for e in encodings], [e.offsets for e in encodings]


def tokenize_sentences(
    tokenizer: Any, texts: np.ndarray, items: np.ndarray, max_tokens: int
) -> TextWork:
    """Tokenize whole sentences, one input each, with array operations after one tokenizer call.

    A sentence is its only target, so its item spans every token that covers characters (from
    the first to the last); the result equals :func:`tokenize_windows` on the sentence windows
    of :func:`build_windows`, without its per-token alignment loop.

    Parameters
    ----------
    tokenizer : PreTrainedTokenizerFast
        A fast tokenizer (it must return offset mappings).
    texts : ndarray of str
        One sentence (or passage) per table row.
    items : ndarray
        The ``item`` column of the table, for error messages.
    max_tokens : int
        Longest input the model takes.

    Returns
    -------
    work : TextWork
    """
    _require_fast(tokenizer)
    prefix, suffix = _special_template(tokenizer)
    n = len(texts)
    ids, offsets = _encode(tokenizer, [str(t) for t in texts]) if n else ([], [])
    n_tokens = np.fromiter(map(len, ids), np.int64, n)
    too_long = np.flatnonzero(n_tokens > max_tokens)
    if len(too_long):
        i = too_long[0]
        raise _too_long_error(items[i], items[i], n_tokens[i], max_tokens)
    total = int(n_tokens.sum())
    flat = np.fromiter(itertools.chain.from_iterable(ids), np.int64, total)
    chars = np.fromiter(
        itertools.chain.from_iterable(itertools.chain.from_iterable(offsets)), np.int64, 2 * total
    ).reshape(total, 2)
    sentence = np.repeat(np.arange(n, dtype=np.int64), n_tokens)
    pos = np.arange(total, dtype=np.int64) - np.repeat(np.cumsum(n_tokens) - n_tokens, n_tokens)
    covers = chars[:, 1] > chars[:, 0]  # special tokens cover no characters
    n_covering = np.bincount(sentence[covers], minlength=n)
    empty = np.flatnonzero(n_covering == 0)
    if len(empty):
        raise _no_token_error(items[empty[0]], texts[empty[0]])
    covering = pos[covers]
    ends = np.cumsum(n_covering)
    body = (pos >= len(prefix)) & (pos < np.repeat(n_tokens - len(suffix), n_tokens))
    length = n_tokens - len(prefix) - len(suffix)
    return TextWork(
        tokens=flat[body],
        start=np.cumsum(length) - length,
        length=length,
        prefix=prefix,
        suffix=suffix,
        ptr=np.arange(n + 1, dtype=np.int64),
        rows=np.arange(n, dtype=np.int64),
        lo=covering[ends - n_covering] - len(prefix),
        hi=covering[ends - 1] + 1 - len(prefix),
    )


def _compact(work: TextWork) -> TextWork:
    """``work`` with only the span of ``tokens`` its windows use."""
    if not len(work):
        return dataclasses.replace(work, tokens=work.tokens[:0])
    lo, hi = int(work.start.min()), int((work.start + work.length).max())
    return dataclasses.replace(work, tokens=work.tokens[lo:hi], start=work.start - lo)


def _concat(parts: list[TextWork]) -> TextWork:
    """The windows of several :class:`TextWork` parts, in order (one part is returned as is)."""
    if len(parts) == 1:
        return parts[0]
    base = np.cumsum([0] + [len(p.tokens) for p in parts[:-1]])
    ptr_base = np.cumsum([0] + [p.ptr[-1] for p in parts[:-1]])
    return TextWork(
        tokens=np.concatenate([p.tokens for p in parts]),
        start=np.concatenate([p.start + b for p, b in zip(parts, base, strict=True)]),
        length=np.concatenate([p.length for p in parts]),
        prefix=parts[0].prefix,
        suffix=parts[0].suffix,
        ptr=np.concatenate(
            [[0]] + [p.ptr[1:] + b for p, b in zip(parts, ptr_base, strict=True)]
        ).astype(np.int64),
        rows=np.concatenate([p.rows for p in parts]),
        lo=np.concatenate([p.lo for p in parts]),
        hi=np.concatenate([p.hi for p in parts]),
    )


class TextStream:
    """A stimulus table's inputs, tokenized part by part on a background thread.

    The stories (``words`` context) or sentences are cut into parts of at least
    ``part_inputs`` inputs (a story is never split), and a thread tokenizes the parts in order
    with :func:`tokenize_stories` from the part of input ``start`` on. :meth:`take` waits only
    for the parts its inputs are in, so work on the first inputs starts while the rest of the
    corpus is tokenized; an error in any part (a word without a token, an input too long) is
    raised by the next :meth:`take`, so a bad table fails early in a long run.

    Parameters
    ----------
    tokenizer : PreTrainedTokenizerFast
        A fast tokenizer (it must return offset mappings).
    table : DataFrame
        Stimulus table (see :func:`tokenize_stories`).
    policy : ContextPolicy
        Word context or whole sentences.
    max_tokens : int
        Longest input the model takes.
    part_inputs : int, default=8192
        Inputs per part (a part holds whole stories, so it may hold more).
    start : int, default=0
        First input that will be asked for (earlier parts are not tokenized).
    n_checked : int, default=16
        Windows of each part checked against their own tokenization.

    Notes
    -----
    Inputs are numbered as by :func:`build_windows`. Parts before the range of a :meth:`take`
    are dropped, so asking for ranges in increasing order keeps memory to the parts not yet
    used. Call :meth:`close` (or use the stream as a context manager) to stop the thread early.
    """

    def __init__(
        self,
        tokenizer: Any,
        table: pd.DataFrame,
        policy: ContextPolicy,
        max_tokens: int,
        *,
        part_inputs: int = 8192,
        start: int = 0,
        n_checked: int = 16,
    ) -> None:
        _require_fast(tokenizer)
        self._tokenize = (tokenizer, policy, max_tokens, n_checked)
        self._table = table
        self._parts: list[np.ndarray] = []  # table rows of each part
        ends: list[int] = []
        if policy.kind == "sentence":
            for lo in range(0, len(table), part_inputs):
                self._parts.append(np.arange(lo, min(len(table), lo + part_inputs)))
                ends.append(lo + len(self._parts[-1]))
        else:
            groups = _groups(table) if len(table) else []
            first, total = 0, 0
            for g, rows in enumerate(groups):
                total += len(_window_bounds(len(rows), policy)[0])
                if total - (ends[-1] if ends else 0) >= part_inputs or g == len(groups) - 1:
                    self._parts.append(np.concatenate(groups[first : g + 1]))
                    ends.append(total)
                    first = g + 1
        self._ends = np.array(ends, dtype=np.int64)
        self._done: dict[int, TextWork] = {}
        self._error: BaseException | None = None
        self._stop = False
        self._ready = threading.Condition()
        begin = int(np.searchsorted(self._ends, start, side="right"))
        self._floor = begin  # parts before this one are not (or no longer) held
        self._thread = threading.Thread(target=self._run, args=(begin,), daemon=True)
        self._thread.start()

    def __len__(self) -> int:
        return int(self._ends[-1]) if len(self._ends) else 0

    def __enter__(self) -> TextStream:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def close(self) -> None:
        """Stop tokenizing after the part in progress and wait for the thread."""
        with self._ready:
            self._stop = True
            self._ready.notify_all()  # a take() waiting for a part that will not come
        self._thread.join()

    def _part(self, p: int) -> TextWork:
        tokenizer, policy, max_tokens, n_checked = self._tokenize
        rows = self._parts[p]
        sub = self._table.iloc[rows]
        if "item" not in sub.columns:
            sub = sub.assign(item=rows)  # errors name the table's own positions
        work = tokenize_stories(tokenizer, sub, policy, max_tokens, n_checked)
        return dataclasses.replace(work, rows=rows[work.rows])

    def _run(self, begin: int) -> None:
        for p in range(begin, len(self._parts)):
            if self._stop:
                return
            try:
                work = self._part(p)
            except BaseException as err:  # re-raised by take()
                with self._ready:
                    self._error = err
                    self._ready.notify_all()
                return
            with self._ready:
                if self._stop:
                    return
                self._done[p] = work
                self._ready.notify_all()

    def take(self, first: int, stop: int) -> TextWork:
        """Inputs ``first`` to ``stop - 1``, once their parts are tokenized.

        Raises
        ------
        NeuroalignError
            If tokenizing any part failed (the first error of the corpus in order).
        RuntimeError
            If the stream was closed before the parts were tokenized.
        """
        if not 0 <= first < stop <= len(self):
            raise ValueError(f"inputs {first}:{stop} outside 0:{len(self)}")
        lo = int(np.searchsorted(self._ends, first, side="right"))
        hi = int(np.searchsorted(self._ends, stop - 1, side="right"))
        if lo < self._floor:
            raise ValueError(f"input {first} is before the stream's start or already taken")
        with self._ready:
            needed = range(lo, hi + 1)
            while self._error is None and not all(p in self._done for p in needed):
                if self._stop:
                    raise RuntimeError("the text stream was closed before these inputs came")
                self._ready.wait()
            if self._error is not None:
                raise self._error
            for p in [p for p in self._done if p < lo]:
                del self._done[p]
            self._floor = lo
            parts = [self._done[p] for p in range(lo, hi + 1)]
        out = []
        for p, work in zip(range(lo, hi + 1), parts, strict=True):
            base = int(self._ends[p]) - len(work)
            index = np.arange(max(first, base), min(stop, base + len(work))) - base
            out.append(_compact(work.take(index)))
        return _concat(out)


def collate_text(
    work: TextWork, pad_id: int, padding_side: str
) -> tuple[dict[str, torch.Tensor], PoolPlan]:
    """Pad windows into a batch and make its pooling plan (array operations only).

    Parameters
    ----------
    work : TextWork
        The windows of one batch.
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
    n_tokens = work.n_tokens
    seq_len = int(n_tokens.max())
    n_prefix = len(work.prefix)
    shift = seq_len - n_tokens if padding_side == "left" else np.zeros_like(n_tokens)
    col = np.arange(seq_len, dtype=np.int64)[None, :] - shift[:, None]  # position in window
    mask = (col >= 0) & (col < n_tokens[:, None])
    ids = np.full(col.shape, pad_id, dtype=np.int64)
    body = mask & (col >= n_prefix) & (col < n_prefix + work.length[:, None])
    src = work.start[:, None] + col - n_prefix
    ids[body] = work.tokens[src[body]]
    b = np.arange(len(work))
    for k, token in enumerate(work.prefix):
        ids[b, shift + k] = token
    for k, token in enumerate(work.suffix):
        ids[b, shift + n_prefix + work.length + k] = token
    mask = mask.astype(np.int64)
    position_ids = np.clip(np.cumsum(mask, axis=1) - 1, 0, None)
    inputs = {
        "input_ids": torch.from_numpy(ids),
        "attention_mask": torch.from_numpy(mask),
        "position_ids": torch.from_numpy(position_ids),
    }
    owner = np.repeat(b, np.diff(work.ptr))
    at = (shift + n_prefix)[owner]
    plan = PoolPlan.from_spans(work.rows, owner, work.lo + at, work.hi + at, seq_len)
    return inputs, plan

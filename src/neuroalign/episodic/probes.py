"""Token probes: repeated random sequences and permuted repeats.

A probe sequence is ``[BOS] x_1 .. x_n y_1 .. y_n`` where the first half holds ``n`` distinct
tokens drawn without replacement and the second half is either the same list (``repeat``,
Olsson et al. 2022) or a random permutation of it (``permuted``, which breaks multi-token
prefix matches so only single-token matching remains). For each second-half position,
``source`` is the position of the first occurrence of its token.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from neuroalign._check import NeuroalignError, check_option, check_range

PROBE_KINDS = ("repeat", "permuted")


@dataclass(frozen=True)
class Probe:
    """A batch of probe sequences.

    Attributes
    ----------
    kind : {"repeat", "permuted"}
        How the second half is built.
    tokens : ndarray of int64, shape (n_seq, offset + 2 * half_len)
        Token ids.
    source : ndarray of int64, shape (n_seq, half_len)
        For the i-th second-half position ``offset + half_len + i``, the position of the first
        occurrence of its token (in the first half).
    half_len : int
        Tokens per half.
    bos_id : int or None
        Token prepended to every sequence, or None.
    bos_kind : {"bos", "eos", "none"}
        Which special token ``bos_id`` is.
    """

    kind: str
    tokens: np.ndarray
    source: np.ndarray
    half_len: int
    bos_id: int | None
    bos_kind: str

    @property
    def offset(self) -> int:
        """Positions before the first half (1 with a BOS token, else 0)."""
        return 0 if self.bos_id is None else 1

    @property
    def queries(self) -> np.ndarray:
        """Positions of the second half, shape (half_len,)."""
        start = self.offset + self.half_len
        return np.arange(start, start + self.half_len)


def make_probe(
    kind: str,
    *,
    n_seq: int,
    half_len: int,
    vocab: np.ndarray,
    rng: np.random.Generator,
    bos_id: int | None = None,
    bos_kind: str = "bos",
) -> Probe:
    """Draw probe sequences.

    Parameters
    ----------
    kind : {"repeat", "permuted"}
        Second half equal to the first, or a random permutation of it.
    n_seq : int
        Number of sequences.
    half_len : int
        Tokens per half (distinct within a sequence).
    vocab : ndarray of int
        Token ids to draw from (ordinary tokens, no special ones).
    rng : numpy.random.Generator
        Random source.
    bos_id : int, optional
        Token to prepend (the model's BOS, or its EOS when it has no BOS).
    bos_kind : {"bos", "eos", "none"}
        Recorded with the probe to say which token ``bos_id`` is.

    Returns
    -------
    probe : Probe
        The sequences and the source position of every second-half token.
    """
    check_option("probe kind", kind, PROBE_KINDS)
    check_range("n_seq", n_seq, low=1)
    check_range("half_len", half_len, low=2)
    vocab = np.unique(np.asarray(vocab, dtype=np.int64))
    if len(vocab) < half_len:
        raise NeuroalignError(
            f"probe vocabulary has {len(vocab)} tokens; half_len={half_len} distinct tokens are "
            "needed per sequence. Lower half_len or widen the vocabulary range."
        )
    offset = 0 if bos_id is None else 1
    first = np.stack([rng.choice(vocab, size=half_len, replace=False) for _ in range(n_seq)])
    if kind == "repeat":
        order = np.tile(np.arange(half_len), (n_seq, 1))
    else:
        order = np.stack([rng.permutation(half_len) for _ in range(n_seq)])
    second = np.take_along_axis(first, order, axis=1)
    tokens = np.concatenate([first, second], axis=1)
    if bos_id is not None:
        tokens = np.concatenate([np.full((n_seq, 1), bos_id, dtype=np.int64), tokens], axis=1)
    return Probe(
        kind=kind,
        tokens=tokens.astype(np.int64),
        source=(order + offset).astype(np.int64),
        half_len=half_len,
        bos_id=bos_id,
        bos_kind=bos_kind if bos_id is not None else "none",
    )


def probe_vocab(tokenizer, vocab_range: tuple[int, int] | None = None) -> np.ndarray:
    """Ordinary token ids of a tokenizer (special tokens removed), optionally within a range.

    Parameters
    ----------
    tokenizer : transformers tokenizer
        Its ``all_special_ids`` are excluded.
    vocab_range : (int, int), optional
        Half-open range ``[low, high)`` of ids; default the whole vocabulary.
    """
    n = len(tokenizer)
    low, high = vocab_range if vocab_range is not None else (0, n)
    ids = np.arange(max(low, 0), min(high, n))
    return np.setdiff1d(ids, np.asarray(tokenizer.all_special_ids, dtype=np.int64))


def bos_token(tokenizer) -> tuple[int | None, str]:
    """The token to prepend: BOS, else EOS, else none; and which one it is."""
    if getattr(tokenizer, "bos_token_id", None) is not None:
        return int(tokenizer.bos_token_id), "bos"
    if getattr(tokenizer, "eos_token_id", None) is not None:
        return int(tokenizer.eos_token_id), "eos"
    return None, "none"

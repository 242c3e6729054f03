"""Word-level predictors of reading: surprisal and entropy from a causal LM, frequency, length,
position and spillover.

**Surprisal** of a word is ``-log2 P(word | all text before it)`` in bits: the sum over the
word's tokens of each token's surprisal given every earlier token (chain rule), so a word of
several tokens gets the sum. **Entropy** is that of the model's next-token distribution at the
word's first token (``-sum p log2 p`` over the vocabulary, in bits, given the text before the
word): how uncertain the reader's next word was before it was seen.

Exact word alignment. A text is its words joined by single spaces, tokenized once without
special tokens; a token belongs to the word whose characters it covers (the tokenizer's offset
mapping; `neuroalign.models.text`), and tokens that cover only the space between two words
(a lone SentencePiece ``▁``) go to the word after it, so every token of the text is counted in
exactly one word. The tokens of each word must decode back to the word's characters (spaces
aside): a tokenizer that lowercases, strips accents or maps a character to its unknown token
would give the surprisal of another string, so that is a one-line error naming the word.

BOS. The text starts with the model's beginning-of-sequence token (the tokenizer's
``bos_token``, else the config's ``bos_token_id``, else its ``eos_token_id``: GPT-2's
``<|endoftext|>``), so the first word has a surprisal too. A model with none of these gives
NaN surprisal and entropy for the first word of each text.

Long texts. A text longer than the model's window (``window`` tokens, BOS included; default
the model's maximum positions) is read in windows of ``window`` tokens that advance by half a
window, each token scored in the first window where it falls in the second half (all tokens of
the first window): a token's context is then everything before it back to the window's start,
at least ``window // 2`` tokens, cut at the window (the BOS is not re-inserted).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from neuroalign._check import NeuroalignError
from neuroalign.data.frequency import word_log_frequency
from neuroalign.models.text import _require_fast, _word_tokens

__all__ = [
    "WordSurprisal",
    "bos_token_id",
    "check_decoded",
    "lm_word_surprisal",
    "spillover",
    "word_predictors",
]

logger = logging.getLogger(__name__)

LN2 = float(np.log(2.0))


@dataclass(frozen=True)
class WordSurprisal:
    """Surprisal and entropy of each word, from one model.

    Attributes
    ----------
    surprisal : ndarray of shape (n_words,)
        ``-log2 P(word | text before it)`` in bits (NaN: no context, see the module notes).
    entropy : ndarray of shape (n_words,)
        Entropy (bits) of the next-token distribution at the word's first token.
    n_tokens : ndarray of shape (n_words,)
        Tokens of each word.
    window : int
        Tokens per model input (BOS included).
    bos : int or None
        The BOS token id prepended to each text (None: none).
    """

    surprisal: np.ndarray
    entropy: np.ndarray
    n_tokens: np.ndarray
    window: int
    bos: int | None


def bos_token_id(model: Any, tokenizer: Any) -> int | None:
    """The token that starts each text: the tokenizer's BOS, else the config's BOS, else EOS."""
    for value in (
        getattr(tokenizer, "bos_token_id", None),
        getattr(getattr(model, "config", None), "bos_token_id", None),
        getattr(getattr(model, "config", None), "eos_token_id", None),
    ):
        if isinstance(value, list | tuple):
            value = value[0] if value else None
        if value is not None:
            return int(value)
    return None


def _max_positions(model: Any) -> int:
    config = getattr(model, "config", None)
    for key in ("n_positions", "max_position_embeddings", "n_ctx", "seq_length"):
        value = getattr(config, key, None)
        if isinstance(value, int) and value > 0:
            return value
    return 1024


def check_decoded(tokenizer: Any, ids: np.ndarray, words: Sequence[str], where: str) -> None:
    """Raise if any word's tokens do not decode back to the word's characters (spaces aside).

    Parameters
    ----------
    tokenizer : tokenizer
        The model's tokenizer.
    ids : sequence of array of int
        Token ids of each word.
    words : sequence of str
        The words.
    where : str
        Names the text, for the error message.

    Raises
    ------
    NeuroalignError
        One line naming the first word whose tokens decode to other characters.
    """
    for k, (word, tok) in enumerate(zip(words, ids, strict=True)):
        decoded = tokenizer.decode(
            [int(t) for t in tok], skip_special_tokens=False, clean_up_tokenization_spaces=False
        )
        if "".join(decoded.split()) != "".join(str(word).split()):
            raise NeuroalignError(
                f"word {word!r} ({where}, word {k}): the tokenizer's tokens decode to "
                f"{decoded.strip()!r}, not the word's characters (it drops or changes "
                "characters); use a model whose tokenizer keeps every character, or fix the word"
            )


def _word_ranges(tokenizer: Any, words: list[str], where: str) -> tuple[np.ndarray, np.ndarray]:
    """Token ids of ``" ".join(words)`` and the end (exclusive) token of each word."""
    if not words:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    empty = [k for k, w in enumerate(words) if not str(w).strip()]
    if empty:
        raise NeuroalignError(f"{where}, word {empty[0]}: the word is empty; fix the table")
    enc = tokenizer(
        " ".join(words), return_offsets_mapping=True, add_special_tokens=False, verbose=False
    )
    ids = np.asarray(enc["input_ids"], dtype=np.int64)
    offsets = np.asarray(enc["offset_mapping"], dtype=np.int64).reshape(-1, 2)
    rows = np.arange(len(words))
    items = np.array([f"{where}, word {k}" for k in rows], dtype=object)
    _, stop = _word_tokens(words, offsets, rows, items)
    # Tokens after the last word's last token (none with ordinary tokenizers) go to it.
    stop = stop.copy()
    stop[-1] = len(ids)
    first = np.r_[0, stop[:-1]]
    check_decoded(tokenizer, [ids[a:b] for a, b in zip(first, stop, strict=True)], words, where)
    return ids, stop


def _windows(n: int, window: int) -> list[tuple[int, int, int]]:
    """(start, end, first scored position) of the windows over a sequence of ``n`` tokens.

    Position ``p >= 1`` of the sequence is predicted from positions ``start .. p - 1``; each
    window after the first ends half a window after the previous one.

    Examples
    --------
    >>> _windows(10, 4)
    [(0, 4, 1), (2, 6, 4), (4, 8, 6), (6, 10, 8)]
    """
    if n <= window:
        return [(0, n, 1)]
    half = max(1, window // 2)
    out, end = [(0, window, 1)], window
    while end < n:
        new_end = min(n, end + half)
        out.append((new_end - window, new_end, end))
        end = new_end
    return out


def _score(model: Any, seqs: list[np.ndarray], device: Any, batch_size: int) -> list[tuple]:
    """Per sequence: log2 prob of each token from its prefix, entropy of each prediction."""
    import torch

    out: list[tuple | None] = [None] * len(seqs)
    order = np.argsort([-len(s) for s in seqs], kind="stable")
    for b in range(0, len(order), batch_size):
        idx = order[b : b + batch_size]
        length = max(len(seqs[i]) for i in idx)
        ids = np.zeros((len(idx), length), np.int64)
        mask = np.zeros((len(idx), length), np.int64)
        for r, i in enumerate(idx):
            ids[r, : len(seqs[i])] = seqs[i]
            mask[r, : len(seqs[i])] = 1
        with torch.inference_mode():
            logits = model(
                input_ids=torch.as_tensor(ids, device=device),
                attention_mask=torch.as_tensor(mask, device=device),
            ).logits.float()
            logp = torch.log_softmax(logits, dim=-1)
            target = torch.as_tensor(ids[:, 1:], device=device)
            lp = logp[:, :-1].gather(-1, target[..., None])[..., 0] / LN2
            ent = -(logp.exp() * logp).sum(-1) / LN2
        lp, ent = lp.cpu().numpy(), ent.cpu().numpy()
        for r, i in enumerate(idx):
            n = len(seqs[i])
            out[i] = (lp[r, : n - 1], ent[r, :n])
    return out  # type: ignore[return-value]


def lm_word_surprisal(
    model: Any,
    tokenizer: Any,
    texts: Sequence[Sequence[str]],
    *,
    window: int | None = None,
    batch_size: int = 8,
    names: Sequence[str] | None = None,
) -> list[WordSurprisal]:
    """Surprisal and entropy of every word of each text, exactly aligned (module notes).

    Parameters
    ----------
    model : transformers causal LM
        ``model(input_ids=..., attention_mask=...)`` returns ``.logits`` over the vocabulary.
    tokenizer : PreTrainedTokenizerFast
        Its fast tokenizer (offset mappings).
    texts : sequence of sequence of str
        The words of each text (paragraph, story or sentence) in reading order.
    window : int, optional
        Tokens per model input, BOS included (default: the model's maximum positions).
    batch_size : int, default=8
        Model inputs per forward pass.
    names : sequence of str, optional
        A name per text, for error messages.

    Returns
    -------
    words : list of WordSurprisal
        One per text.

    Raises
    ------
    NeuroalignError
        If a word's tokens do not decode to its characters, a word has no token, or a token
        spans two words (one line naming the word).
    """
    _require_fast(tokenizer)
    names = list(names) if names is not None else [f"text {i}" for i in range(len(texts))]
    window = int(window or _max_positions(model))
    if window < 2:
        raise NeuroalignError(f"window={window}: a model input needs at least 2 tokens")
    bos = bos_token_id(model, tokenizer)
    try:
        device = next(model.parameters()).device
    except (StopIteration, AttributeError):
        device = "cpu"
    plans, seqs = [], []
    for words, name in zip(texts, names, strict=True):
        words = [str(w) for w in words]
        ids, stop = _word_ranges(tokenizer, words, str(name))
        seq = np.r_[[bos] if bos is not None else [], ids].astype(np.int64)
        spans = _windows(len(seq), window) if len(seq) > 1 else []
        plans.append((seq, stop, spans, len(seqs)))
        seqs.extend(seq[a:b] for a, b, _ in spans)
    scored = _score(model, seqs, device, batch_size) if seqs else []
    out = []
    for seq, stop, spans, first_seq in plans:
        n = len(seq)
        lp = np.full(n, np.nan)  # lp[p]: log2 P(seq[p] | context), p >= 1
        ent = np.full(n, np.nan)  # ent[p]: entropy of the prediction of seq[p]
        for k, (a, b, s) in enumerate(spans):
            lps, ents = scored[first_seq + k]
            p = np.arange(max(s, a + 1), b)
            lp[p] = lps[p - a - 1]
            ent[p] = ents[p - a - 1]
        shift = 1 if bos is not None else 0
        tok_lp, tok_ent = lp[shift:], ent[shift:]
        first = np.r_[0, stop[:-1]] if len(stop) else stop
        counts = stop - first
        surprisal = -np.add.reduceat(tok_lp, first) if len(stop) else np.zeros(0)
        entropy = tok_ent[first] if len(stop) else np.zeros(0)
        out.append(WordSurprisal(surprisal, entropy, counts, window, bos))
    logger.info("scored %d texts (%d model inputs, window %d)", len(texts), len(seqs), window)
    return out


def spillover(values: np.ndarray, groups: np.ndarray, k: int) -> np.ndarray:
    """The value of the word ``k`` places earlier in the same text (NaN before the text starts).

    Examples
    --------
    >>> spillover(np.array([1.0, 2, 3, 4]), np.array(["a", "a", "a", "b"]), 1).tolist()
    [nan, 1.0, 2.0, nan]
    """
    s = pd.Series(np.asarray(values, float))
    return s.groupby(np.asarray(groups), sort=False).shift(k).to_numpy(float)


def word_predictors(
    words: Sequence[str],
    groups: np.ndarray,
    *,
    sentences: np.ndarray | None = None,
    surprisal: dict[str, np.ndarray] | None = None,
    frequency: np.ndarray | None = None,
    length: np.ndarray | None = None,
    n_spill: int = 1,
    spill_terms: Sequence[str] = ("length", "frequency"),
) -> pd.DataFrame:
    """The standard predictors of each word, with spillover copies of the previous words.

    Parameters
    ----------
    words : sequence of str
        The words in reading order.
    groups : array of shape (n_words,)
        The text of each word (spillover and position do not cross texts).
    sentences : array of shape (n_words,), optional
        Sentence index within the text (``position_in_sentence``; default: one sentence).
    surprisal : dict of str to array, optional
        Further per-word predictors (model surprisal and entropy, corpus columns), by name.
    frequency : array of shape (n_words,), optional
        Log frequency; default the wordfreq Zipf frequency of the word
        (`neuroalign.data.frequency.word_log_frequency`, punctuation stripped).
    length : array of shape (n_words,), optional
        Word length; default the letters and digits of the word (all its characters if none).
    n_spill : int, default=1
        Spillover terms for the previous ``1 .. n_spill`` words (``<name>_prev<k>``).
    spill_terms : sequence of str
        The predictors that get spillover terms (``length``, ``frequency`` and any name of
        ``surprisal``).

    Returns
    -------
    predictors : DataFrame
        ``length`` (characters, punctuation excluded), ``frequency``, ``position`` (word index
        in the text), ``position_in_sentence``, the ``surprisal`` columns and spillover terms.
    """
    from neuroalign.data.align import normalize_token

    groups = np.asarray(groups)
    bare = [normalize_token(w) or str(w) for w in words]
    df = pd.DataFrame(
        {
            "length": (
                np.asarray(length, float)
                if length is not None
                else np.fromiter(
                    (sum(c.isalnum() for c in str(w)) or len(str(w)) for w in words),
                    float,
                    count=len(bare),
                )
            ),
            "frequency": (
                np.asarray(frequency, float) if frequency is not None else word_log_frequency(bare)
            ),
        }
    )
    df["position"] = pd.Series(np.ones(len(df))).groupby(groups, sort=False).cumsum().to_numpy()
    df["position"] -= 1
    sent = np.zeros(len(df), np.int64) if sentences is None else np.asarray(sentences)
    key = pd.Series(groups.astype(str)) + "\x00" + pd.Series(sent.astype(str))
    df["position_in_sentence"] = df.groupby(key.to_numpy(), sort=False).cumcount().to_numpy(float)
    for name, values in (surprisal or {}).items():
        df[name] = np.asarray(values, float)
    for term in spill_terms:
        if term not in df:
            raise NeuroalignError(
                f"spillover term {term!r} is not a predictor; choose from {list(df.columns)}"
            )
        for k in range(1, n_spill + 1):
            df[f"{term}_prev{k}"] = spillover(df[term].to_numpy(), groups, k)
    return df

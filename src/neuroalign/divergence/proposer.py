"""What the worst-predicted words share: hypotheses proposed by an LM, scored on held-out words.

As in the divergence study: a generative LM sees a sample of the highest-error words (and of
the lowest) and is asked what the first group shares; each description it writes is then
scored on held-out words by how well its similarity to each word separates high- from
low-error words (the area under the ROC curve; 0.5 is chance). Similarity is the cosine of
mean-pooled last hidden states of the description and of the word under a model (the
proposer itself by default).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

from neuroalign.models.batches import input_device, run_batches

__all__ = ["embed_texts", "parse_descriptions", "prompt", "propose", "score_descriptions"]

logger = logging.getLogger(__name__)

_BULLET = re.compile(r"^\s*(?:[-*\u2022]|\d+[.)])\s*")


def prompt(high: Sequence[str], low: Sequence[str]) -> str:
    """The proposer's prompt: two word groups and the question, ending where the answer starts."""
    return (
        "Group A words: " + ", ".join(high) + ".\n"
        "Group B words: " + ", ".join(low) + ".\n"
        "Compared with group B, the words in group A are mostly words that"
    )


def parse_descriptions(texts: Sequence[str], max_words: int = 12) -> list[str]:
    """Turn generated continuations into short descriptions: first line, bullets stripped,
    cut at the first sentence end, at most ``max_words`` words; empty and repeated ones dropped."""
    out: list[str] = []
    for text in texts:
        line = next((ln for ln in str(text).splitlines() if ln.strip()), "")
        line = _BULLET.sub("", line).strip()
        line = re.split(r"(?<=[.!?])\s", line)[0].strip(" .!?\"'")
        words = line.split()[:max_words]
        desc = " ".join(words)
        if len(re.sub(r"[^A-Za-z]", "", desc)) >= 3 and desc.lower() not in {
            d.lower() for d in out
        }:
            out.append(desc)
    return out


def propose(
    model: torch.nn.Module,
    tokenizer: Any,
    high: Sequence[str],
    low: Sequence[str],
    *,
    n: int = 5,
    max_new_tokens: int = 24,
    seed: int = 0,
) -> list[str]:
    """Sample ``n`` continuations of `prompt` from a generative LM and parse them.

    Returns
    -------
    descriptions : list of str
        At most ``n`` (fewer when continuations are empty or repeat).
    """
    torch.manual_seed(seed)
    device = input_device(model)
    enc = tokenizer(prompt(high, low), return_tensors="pt")
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    with torch.no_grad():
        out = model.generate(
            input_ids=enc["input_ids"].to(device),
            attention_mask=enc["attention_mask"].to(device),
            do_sample=True,
            top_p=0.95,
            num_return_sequences=n,
            max_new_tokens=max_new_tokens,
            pad_token_id=pad if pad is not None else 0,
        )
    width = enc["input_ids"].shape[1]
    texts = tokenizer.batch_decode(out[:, width:], skip_special_tokens=True)
    return parse_descriptions(texts)


def embed_texts(model: torch.nn.Module, tokenizer: Any, texts: Sequence[str], batch_size: int = 16):
    """Mean-pooled last hidden states of ``texts``: array of shape (n_texts, hidden)."""
    seqs = [tokenizer(t, add_special_tokens=False)["input_ids"] or [0] for t in texts]
    out = [None] * len(seqs)
    base = getattr(model, "base_model", model)

    def forward(batch):
        hidden = base(input_ids=batch.input_ids, attention_mask=batch.attention_mask)[0]
        mask = batch.attention_mask.unsqueeze(-1).to(hidden.dtype)
        return ((hidden * mask).sum(1) / mask.sum(1)).float().cpu().numpy()

    for index, emb in run_batches(seqs, forward, batch_size=batch_size, device=input_device(model)):
        for i, row in zip(index, emb, strict=True):
            out[i] = row
    return np.stack(out)


def _auc(scores: np.ndarray, positive: np.ndarray) -> float:
    from scipy.stats import rankdata

    ranks = rankdata(scores)
    n_pos, n_neg = int(positive.sum()), int((~positive).sum())
    if n_pos == 0 or n_neg == 0:
        return float("nan")
    return float((ranks[positive].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def score_descriptions(
    descriptions: Sequence[str],
    high: Sequence[str],
    low: Sequence[str],
    embed,
) -> np.ndarray:
    """How well each description separates held-out high- from low-error words.

    Parameters
    ----------
    descriptions : sequence of str
    high, low : sequence of str
        Held-out words from the two ends of the ranking.
    embed : callable
        ``embed(list of str) -> array (n, dim)``.

    Returns
    -------
    auc : ndarray of shape (n_descriptions,)
        The area under the ROC curve of cosine similarity for telling ``high`` from ``low``
        (the Mann-Whitney U over ``n_high * n_low``): 1, every high word is closer than every
        low word; 0.5, chance.
    """
    if not descriptions:
        return np.zeros(0)
    words = list(high) + list(low)
    positive = np.r_[np.ones(len(high), bool), np.zeros(len(low), bool)]
    w = embed(words)
    d = embed(list(descriptions))
    w = w / np.linalg.norm(w, axis=1, keepdims=True).clip(1e-12)
    d = d / np.linalg.norm(d, axis=1, keepdims=True).clip(1e-12)
    sims = d @ w.T
    return np.array([_auc(s, positive) for s in sims])

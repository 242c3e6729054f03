"""Held-out tasks that measure what an ablation costs, and the deficit against random sets.

Which readout a model gets depends on its head:

- causal LMs: BLiMP minimal pairs scored by total log-probability (the good sentence should be
  more probable) and next-word loss on a text corpus;
- masked LMs with their head: the same pairs scored by pseudo-log-likelihood (each token masked
  in turn);
- encoders without an LM head (the packaged MiniLM): a linear probe of grammaticality trained on
  the unablated model's pair representations from some BLiMP paradigms and applied, frozen, to
  the other paradigms, plus a non-linguistic control probe (which of two numbers is larger).

A task is fitted once on the intact model (:meth:`Task.fit`); the frozen readout then scores the
model under each ablation (:meth:`Task.score`), as an LM head stays frozen when units are lesioned.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import torch

from neuroalign._check import NeuroalignError
from neuroalign.models.batches import TokenBatch, input_device, run_batches

KINDS = ("causal", "masked", "encoder")


def model_kind(model: torch.nn.Module) -> str:
    """``causal``, ``masked`` (a model with an LM head) or ``encoder`` (no LM head)."""
    from transformers.models.auto import modeling_auto

    name = type(model).__name__
    if name in set(modeling_auto.MODEL_FOR_CAUSAL_LM_MAPPING_NAMES.values()):
        return "causal"
    if name in set(modeling_auto.MODEL_FOR_MASKED_LM_MAPPING_NAMES.values()):
        return "masked"
    return "encoder"


def _pad_id(tokenizer: Any) -> int:
    for name in ("pad_token_id", "eos_token_id", "unk_token_id"):
        value = getattr(tokenizer, name, None)
        if value is not None:
            return int(value)
    return 0


def _run(
    model: torch.nn.Module, tokenizer: Any, seqs: Any, forward: Any, batch_size: int
) -> Iterator[tuple[np.ndarray, Any]]:
    """The shared batch loop (:func:`neuroalign.models.batches.run_batches`) on the model's
    device, right-padded with the tokenizer's pad id."""
    return run_batches(
        seqs, forward, batch_size=batch_size, device=input_device(model), pad_id=_pad_id(tokenizer)
    )


def causal_token_ids(tokenizer: Any, text: str) -> list[int]:
    """Token ids of ``text`` with the beginning-of-sequence token first when the model has one."""
    ids = list(tokenizer(text, add_special_tokens=True)["input_ids"])
    bos = getattr(tokenizer, "bos_token_id", None)
    if bos is not None and (not ids or ids[0] != bos):
        ids = [int(bos), *ids]
    return ids


@torch.no_grad()
def sentence_logprobs(
    model: torch.nn.Module, tokenizer: Any, texts: Sequence[str], *, batch_size: int = 32
) -> np.ndarray:
    """Total log-probability of each text under a causal LM (first token given).

    Returns
    -------
    logprob : float array of shape (n_texts,)
    """
    seqs = [causal_token_ids(tokenizer, t) for t in texts]

    def forward(batch: TokenBatch) -> np.ndarray:
        ids, mask = batch.input_ids, batch.attention_mask
        logits = model(input_ids=ids, attention_mask=mask).logits.float()
        logp = torch.log_softmax(logits[:, :-1], dim=-1)
        target = ids[:, 1:]
        token = logp.gather(-1, target.unsqueeze(-1)).squeeze(-1) * mask[:, 1:]
        return token.sum(1).cpu().numpy()

    out = np.zeros(len(seqs))
    for index, values in _run(model, tokenizer, seqs, forward, batch_size):
        out[index] = values
    return out


@torch.no_grad()
def pseudo_loglikelihoods(
    model: torch.nn.Module, tokenizer: Any, texts: Sequence[str], *, batch_size: int = 64
) -> np.ndarray:
    """Pseudo-log-likelihood of each text under a masked LM: each token masked in turn.

    Returns
    -------
    pll : float array of shape (n_texts,)
    """
    if tokenizer.mask_token_id is None:
        raise NeuroalignError("pseudo-log-likelihood needs a tokenizer with a mask token")
    rows, owner, where, truth = [], [], [], []
    for i, text in enumerate(texts):
        enc = tokenizer(text, add_special_tokens=True, return_special_tokens_mask=True)
        ids, special = enc["input_ids"], enc["special_tokens_mask"]
        for pos, (tok, sp) in enumerate(zip(ids, special, strict=True)):
            if sp:
                continue
            masked = list(ids)
            masked[pos] = tokenizer.mask_token_id
            rows.append(masked)
            owner.append(i)
            where.append(pos)
            truth.append(tok)
    owner, where, truth = np.asarray(owner), np.asarray(where), np.asarray(truth)

    def forward(batch: TokenBatch) -> np.ndarray:
        device = batch.input_ids.device
        logits = model(input_ids=batch.input_ids, attention_mask=batch.attention_mask).logits
        pos = torch.as_tensor(where[batch.index], device=device)
        rows = torch.arange(len(pos), device=device)
        picked = torch.log_softmax(logits.float()[rows, pos], dim=-1)
        gold = torch.as_tensor(truth[batch.index], device=device)[:, None]
        return picked.gather(-1, gold)[:, 0].cpu().numpy()

    out = np.zeros(len(texts))
    for index, gold in _run(model, tokenizer, rows, forward, batch_size):
        np.add.at(out, owner[index], gold)
    return out


@torch.no_grad()
def sentence_embeddings(
    model: torch.nn.Module, tokenizer: Any, texts: Sequence[str], *, batch_size: int = 64
) -> np.ndarray:
    """Mean over tokens of the last layer's hidden state, per text.

    Returns
    -------
    embeddings : float array of shape (n_texts, hidden_size)
    """
    seqs = [list(tokenizer(t, add_special_tokens=True)["input_ids"]) for t in texts]

    def forward(batch: TokenBatch) -> np.ndarray:
        mask = batch.attention_mask
        output = model(input_ids=batch.input_ids, attention_mask=mask, output_hidden_states=True)
        hidden = output.hidden_states[-1].float()
        weights = mask.unsqueeze(-1).float()
        return ((hidden * weights).sum(1) / weights.sum(1)).cpu().numpy()

    return np.concatenate([means for _, means in _run(model, tokenizer, seqs, forward, batch_size)])


@torch.no_grad()
def next_word_loss(
    model: torch.nn.Module,
    tokenizer: Any,
    text: str,
    *,
    window: int = 128,
    n_windows: int = 16,
    batch_size: int = 8,
) -> float:
    """Mean next-token cross-entropy (nats) over the first ``n_windows`` windows of a corpus."""
    ids = tokenizer(text, add_special_tokens=False)["input_ids"]
    n = min(n_windows, len(ids) // window)
    if n < 1:
        raise NeuroalignError(
            f"the corpus has {len(ids)} tokens, fewer than one window of {window}; give a "
            "longer text or a smaller window"
        )
    seqs = np.asarray([ids[i * window : (i + 1) * window] for i in range(n)], dtype=np.int64)

    def forward(batch: TokenBatch) -> tuple[float, int]:
        ids = batch.input_ids
        logits = model(input_ids=ids).logits.float()
        loss = torch.nn.functional.cross_entropy(
            logits[:, :-1].reshape(-1, logits.shape[-1]), ids[:, 1:].reshape(-1), reduction="sum"
        )
        return float(loss), ids[:, 1:].numel()

    total, count = 0.0, 0
    for _, (loss, tokens) in _run(model, tokenizer, seqs, forward, batch_size):
        total += loss
        count += tokens
    return total / count


def number_comparison_items(n: int, rng: np.random.Generator) -> tuple[list[str], np.ndarray]:
    """Texts ``"<a> <b>"`` of two 3-digit numbers and whether the first is larger.

    The control task of the probe: a comparison of magnitudes that needs no grammar.
    """
    a = rng.integers(100, 1000, size=n)
    b = rng.integers(100, 1000, size=n)
    b = np.where(a == b, (b + 1 - 100) % 900 + 100, b)
    return [f"{x} {y}" for x, y in zip(a, b, strict=True)], a > b


@dataclass
class Task:
    """A held-out task: fitted once on the intact model, then scored under each ablation.

    Attributes
    ----------
    name : str
        Short name (``blimp``, ``next_word``, ``blimp_probe``, ``number_probe``).
    metric : str
        What :meth:`score` returns (``accuracy`` or ``loss``).
    higher_is_better : bool
        Whether a lesion that hurts lowers the score.
    """

    name: str
    metric: str
    higher_is_better: bool

    def fit(self, model: torch.nn.Module) -> None:
        """Fit the task's readout on the intact model (nothing for LM-head tasks)."""

    def score(self, model: torch.nn.Module) -> float:
        """Score the (possibly ablated) model."""
        raise NotImplementedError


@dataclass
class BlimpLogProb(Task):
    """BLiMP pair accuracy by log-probability (causal) or pseudo-log-likelihood (masked)."""

    tokenizer: Any = None
    pairs: pd.DataFrame = field(default_factory=pd.DataFrame)
    kind: str = "causal"
    batch_size: int = 32

    def score(self, model: torch.nn.Module) -> float:
        scorer = sentence_logprobs if self.kind == "causal" else pseudo_loglikelihoods
        good = scorer(
            model, self.tokenizer, list(self.pairs["sentence_good"]), batch_size=self.batch_size
        )
        bad = scorer(
            model, self.tokenizer, list(self.pairs["sentence_bad"]), batch_size=self.batch_size
        )
        return float(np.mean(good > bad))


@dataclass
class NextWordLoss(Task):
    """Next-token loss of a causal LM on a text corpus."""

    tokenizer: Any = None
    text: str = ""
    window: int = 128
    n_windows: int = 16

    def score(self, model: torch.nn.Module) -> float:
        return next_word_loss(
            model, self.tokenizer, self.text, window=self.window, n_windows=self.n_windows
        )


@dataclass
class BlimpProbe(Task):
    """Linear probe of grammaticality on the pair difference of sentence embeddings.

    A pair counts as right when the probe's weight vector scores ``e(good) - e(bad)`` above 0.
    The probe is a logistic regression without intercept on ``+(e_good - e_bad)`` (label 1) and
    ``-(e_good - e_bad)`` (label 0) of the training paradigms' pairs.
    """

    tokenizer: Any = None
    train: pd.DataFrame = field(default_factory=pd.DataFrame)
    test: pd.DataFrame = field(default_factory=pd.DataFrame)
    coef_: np.ndarray | None = None

    def _diff(self, model: torch.nn.Module, pairs: pd.DataFrame) -> np.ndarray:
        good = sentence_embeddings(model, self.tokenizer, list(pairs["sentence_good"]))
        bad = sentence_embeddings(model, self.tokenizer, list(pairs["sentence_bad"]))
        return good - bad

    def fit(self, model: torch.nn.Module) -> None:
        from sklearn.linear_model import LogisticRegression

        diff = self._diff(model, self.train)
        x = np.concatenate([diff, -diff])
        y = np.r_[np.ones(len(diff)), np.zeros(len(diff))]
        probe = LogisticRegression(fit_intercept=False, C=1.0, max_iter=2000)
        self.coef_ = probe.fit(x, y).coef_[0]

    def score(self, model: torch.nn.Module) -> float:
        if self.coef_ is None:
            raise NeuroalignError("fit the probe on the intact model before scoring")
        return float(np.mean(self._diff(model, self.test) @ self.coef_ > 0))


@dataclass
class NumberProbe(Task):
    """Control probe: which of two numbers is larger, from the sentence embedding."""

    tokenizer: Any = None
    n_train: int = 200
    n_test: int = 200
    seed: int = 0
    probe_: Any = None

    def __post_init__(self) -> None:
        rng = np.random.default_rng(self.seed)
        self._train = number_comparison_items(self.n_train, rng)
        self._test = number_comparison_items(self.n_test, rng)

    def fit(self, model: torch.nn.Module) -> None:
        from sklearn.linear_model import LogisticRegression
        from sklearn.pipeline import make_pipeline
        from sklearn.preprocessing import StandardScaler

        texts, labels = self._train
        x = sentence_embeddings(model, self.tokenizer, texts)
        self.probe_ = make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000))
        self.probe_.fit(x, labels)

    def score(self, model: torch.nn.Module) -> float:
        if self.probe_ is None:
            raise NeuroalignError("fit the probe on the intact model before scoring")
        texts, labels = self._test
        x = sentence_embeddings(model, self.tokenizer, texts)
        return float(np.mean(self.probe_.predict(x) == labels))


def split_paradigms(
    pairs: pd.DataFrame, test_fraction: float, rng: np.random.Generator
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Split BLiMP pairs by paradigm (never within one) into train and test sets."""
    names = np.array(sorted(pairs["paradigm"].unique()))
    if names.size < 2:
        raise NeuroalignError(
            "the grammaticality probe trains on some BLiMP paradigms and tests on others: give "
            "at least two paradigms"
        )
    n_test = min(names.size - 1, max(1, round(test_fraction * names.size)))
    test = set(rng.choice(names, size=n_test, replace=False))
    is_test = pairs["paradigm"].isin(test).to_numpy()
    return pairs[~is_test].reset_index(drop=True), pairs[is_test].reset_index(drop=True)


def deficit(baseline: float, scores: np.ndarray, higher_is_better: bool) -> np.ndarray:
    """How much worse than ``baseline`` each score is (positive = the lesion hurt)."""
    scores = np.asarray(scores, dtype=np.float64)
    return baseline - scores if higher_is_better else scores - baseline


def compare_to_random(localized: float, random: np.ndarray) -> tuple[float, float]:
    """z-score and percentile of the localized set's deficit within the random sets' deficits.

    Returns
    -------
    z : float
        ``(localized - mean(random)) / std(random, ddof=1)`` (NaN with fewer than 2 random sets
        or when they all have the same deficit).
    percentile : float
        Percent of random sets whose deficit is below the localized one (ties count half).
    """
    random = np.asarray(random, dtype=np.float64)
    random = random[np.isfinite(random)]
    if random.size == 0:
        return float("nan"), float("nan")
    below = np.mean(random < localized) + 0.5 * np.mean(random == localized)
    sd = random.std(ddof=1) if random.size > 1 else 0.0
    z = (localized - random.mean()) / sd if sd > 0 else float("nan")
    return float(z), float(100 * below)

"""Language-model pieces of the divergence analysis: per-word next-word loss, and fine-tuning.

`word_loss` gives each word of a story the causal LM's loss of its tokens given the words
before it (surprisal in nats); `finetune_lm` trains a causal or masked LM on texts with AdamW;
`dataset_texts` turns the named datasets the paper fine-tuned on (Social IQa, PIQA) or a local
file into training texts.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch

from neuroalign._check import NeuroalignError, suggest
from neuroalign.data.readers.qa import QA_FORMATS, qa_texts
from neuroalign.models.batches import input_device, run_batches

__all__ = [
    "DATASETS",
    "NamedDataset",
    "dataset_texts",
    "finetune_lm",
    "is_causal",
    "word_loss",
]

logger = logging.getLogger(__name__)


def _social_iqa(row: Mapping[str, Any]) -> str:
    label = int(row["label"])  # 1, 2 or 3
    answer = row[f"answer{'ABC'[label - 1]}"]
    return f"{row['context']} {row['question']} {answer}"


def _piqa(row: Mapping[str, Any]) -> str:
    return f"{row['goal']} {row['sol1'] if int(row['label']) == 0 else row['sol2']}"


def _fig_qa(row: Mapping[str, Any]) -> str:
    return f"{row['startphrase']} {row['ending1'] if int(row['labels']) == 0 else row['ending2']}"


@dataclass(frozen=True)
class NamedDataset:
    """A fine-tuning dataset known by name: where the hub has it and how a record becomes text."""

    hub: str
    split: str
    fields: tuple[str, ...]
    to_text: Callable[[Mapping[str, Any]], str]
    citation: str


#: The domains the divergence study fine-tuned on (Zhou et al.): social and physical commonsense
#: and figurative language.
DATASETS: dict[str, NamedDataset] = {
    "social_iqa": NamedDataset(
        "allenai/social_i_qa",
        "train",
        ("context", "question", "answerA", "answerB", "answerC", "label"),
        _social_iqa,
        "Sap et al. (2019). Social IQa: Commonsense Reasoning about Social Interactions. EMNLP.",
    ),
    "piqa": NamedDataset(
        "ybisk/piqa",
        "train",
        ("goal", "sol1", "sol2", "label"),
        _piqa,
        "Bisk et al. (2020). PIQA: Reasoning about Physical Commonsense in Natural Language. AAAI.",
    ),
    "fig_qa": NamedDataset(
        "nightingal3/fig-qa",
        "train",
        ("startphrase", "ending1", "ending2", "labels"),
        _fig_qa,
        "Liu et al. (2022). Testing the Ability of Language Models to Interpret Figurative "
        "Language. NAACL.",
    ),
}


def _read_records(path: Path) -> list[dict[str, Any]] | list[str]:
    suffix = path.suffix.lower()
    if suffix == ".txt":
        return [ln.strip() for ln in path.read_text(encoding="utf-8").splitlines() if ln.strip()]
    if suffix in (".jsonl", ".json"):
        text = path.read_text(encoding="utf-8")
        if suffix == ".json":
            data = json.loads(text)
            return data if isinstance(data, list) else [data]
        return [json.loads(ln) for ln in text.splitlines() if ln.strip()]
    if suffix in (".csv", ".tsv"):
        frame = pd.read_csv(path, sep="\t" if suffix == ".tsv" else ",", keep_default_na=False)
        return frame.to_dict("records")
    if suffix == ".parquet":
        return pd.read_parquet(path).to_dict("records")
    raise NeuroalignError(
        f"{path}: unknown text dataset format {suffix!r}; give .txt (one text a line), .jsonl, "
        ".json, .csv, .tsv or .parquet."
    )


def dataset_texts(
    name: str, *, path: str | Path | None = None, limit: int | None = None
) -> list[str]:
    """The training texts of a named dataset or of a local file.

    Parameters
    ----------
    name : str
        A key of :data:`DATASETS` (its records formatted as the study did: context, question
        and the right answer; goal and the right solution), or ``"text"``: a local file's lines
        or ``text`` field.
    path : str or Path, optional
        A local copy (``.jsonl``, ``.json``, ``.csv``, ``.tsv``, ``.parquet`` with the dataset's
        fields, or ``.txt``). A named dataset's ``.jsonl`` or ``.csv`` is read as released
        (:func:`neuroalign.data.readers.qa.qa_texts`: a Social IQa or PIQA split with its
        ``<split>-labels.lst`` beside it, or records that carry their label). Without a path
        a named dataset is read through the ``datasets`` library (the hub, or its cache).
    limit : int, optional
        Keep the first ``limit`` texts.

    Raises
    ------
    NeuroalignError
        For an unknown name, a missing file, records without the dataset's fields, or no
        ``datasets`` library where it is needed.
    """
    if name != "text" and name not in DATASETS:
        raise NeuroalignError(
            f"unknown fine-tuning dataset {name!r}; name one of text, {', '.join(DATASETS)}"
            f"{suggest(name, [*DATASETS, 'text'])}"
        )
    spec = DATASETS.get(name)
    if path is not None:
        path = Path(path)
        if not path.is_file():
            raise NeuroalignError(f"fine-tuning data {path} does not exist.")
        if name in QA_FORMATS and path.suffix.lower() in (".jsonl", ".csv"):
            texts = qa_texts(name, path)
            return texts[:limit] if limit is not None else texts
        records = _read_records(path)
    elif spec is None:
        raise NeuroalignError("dataset 'text' needs a path (a local text file).")
    else:
        try:
            import datasets
        except ImportError:
            raise NeuroalignError(
                f"dataset {name!r} without a path needs the datasets library (pip install "
                f"datasets), or give path: a local copy of {spec.hub} ({spec.split} split)."
            ) from None
        records = list(datasets.load_dataset(spec.hub, split=spec.split))
    texts = []
    for i, rec in enumerate(records):
        if isinstance(rec, str):
            texts.append(rec)
        elif spec is not None and all(f in rec for f in spec.fields):
            texts.append(spec.to_text(rec))
        elif "text" in rec:
            texts.append(str(rec["text"]))
        else:
            need = ", ".join(spec.fields) if spec else "text"
            raise NeuroalignError(f"record {i} of {path or name} has no field(s) {need}.")
        if limit is not None and len(texts) >= limit:
            break
    if not texts:
        raise NeuroalignError(f"fine-tuning data {path or name} holds no text.")
    return texts


def is_causal(model: torch.nn.Module) -> bool:
    """Whether a model with an LM head predicts the next token (else masked tokens)."""
    name = type(model).__name__
    if name.endswith("ForCausalLM") or name.endswith("LMHeadModel"):
        return True
    if name.endswith("ForMaskedLM"):
        return False
    return bool(getattr(model.config, "is_decoder", False))


def _pad_id(tokenizer: Any) -> int:
    for attr in ("pad_token_id", "eos_token_id", "unk_token_id"):
        value = getattr(tokenizer, attr, None)
        if value is not None:
            return int(value)
    return 0


def _mask_tokens(
    ids: torch.Tensor, attention: torch.Tensor, tokenizer: Any, prob: float, gen: torch.Generator
) -> tuple[torch.Tensor, torch.Tensor]:
    """BERT's masking: ``prob`` of the real tokens chosen; 80% [MASK], 10% random, 10% kept."""
    labels = ids.clone()
    special = torch.zeros_like(ids, dtype=torch.bool)
    for sid in tokenizer.all_special_ids:
        special |= ids == sid
    chosen = (torch.rand(ids.shape, generator=gen) < prob) & attention.bool() & ~special
    labels[~chosen] = -100
    inputs = ids.clone()
    roll = torch.rand(ids.shape, generator=gen)
    if tokenizer.mask_token_id is None:
        raise NeuroalignError("a masked LM needs a tokenizer with a mask token.")
    inputs[chosen & (roll < 0.8)] = tokenizer.mask_token_id
    swap = chosen & (roll >= 0.8) & (roll < 0.9)
    inputs[swap] = torch.randint(len(tokenizer), ids.shape, generator=gen)[swap]
    return inputs, labels


def finetune_lm(
    model: torch.nn.Module,
    tokenizer: Any,
    texts: Sequence[str],
    *,
    steps: int,
    batch_size: int = 8,
    learning_rate: float = 5e-5,
    max_length: int = 128,
    mlm_probability: float = 0.15,
    seed: int = 0,
) -> list[float]:
    """Fine-tune a causal or masked LM in place on ``texts`` with AdamW; return each step's loss.

    Parameters
    ----------
    model : torch.nn.Module
        A model with an LM head (``...ForCausalLM`` or ``...ForMaskedLM``), on its device.
    tokenizer : tokenizer
    texts : sequence of str
        Training texts; batches cycle through a seeded shuffle of them.
    steps, batch_size, learning_rate, max_length, mlm_probability, seed
        Optimizer steps, texts per step, AdamW learning rate, tokens per text (truncated),
        the masked fraction (masked LMs only) and the seed of shuffling and masking.

    Returns
    -------
    losses : list of float, one per step
    """
    if steps < 1:
        raise NeuroalignError(f"steps must be at least 1; got {steps}.")
    causal = is_causal(model)
    device = input_device(model)
    rng = np.random.default_rng(seed)
    gen = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)
    encoded = [tokenizer(t, truncation=True, max_length=max_length)["input_ids"] for t in texts]
    encoded = [e for e in encoded if len(e) >= 2]
    if not encoded:
        raise NeuroalignError("no fine-tuning text has two tokens or more.")
    pad = _pad_id(tokenizer)
    optim = torch.optim.AdamW(model.parameters(), lr=learning_rate)
    order = rng.permutation(len(encoded))
    cursor, losses = 0, []
    model.train()
    try:
        for step in range(steps):
            if cursor + batch_size > len(order):
                order, cursor = rng.permutation(len(encoded)), 0
            batch = [encoded[i] for i in order[cursor : cursor + batch_size]]
            cursor += batch_size
            width = max(len(b) for b in batch)
            ids = torch.full((len(batch), width), pad, dtype=torch.long)
            attn = torch.zeros_like(ids)
            for i, b in enumerate(batch):
                ids[i, : len(b)] = torch.as_tensor(b)
                attn[i, : len(b)] = 1
            if causal:
                inputs, labels = ids, ids.masked_fill(attn == 0, -100)
            else:
                inputs, labels = _mask_tokens(ids, attn, tokenizer, mlm_probability, gen)
            out = model(
                input_ids=inputs.to(device),
                attention_mask=attn.to(device),
                labels=labels.to(device),
            )
            if not torch.isfinite(out.loss):
                continue  # a masked batch with no chosen token
            optim.zero_grad()
            out.loss.backward()
            optim.step()
            losses.append(float(out.loss.detach()))
            if step % 50 == 0:
                logger.info("fine-tune step %d: loss %.4f", step, losses[-1])
    finally:
        model.eval()
    return losses


def word_loss(
    model: torch.nn.Module,
    tokenizer: Any,
    words: Sequence[str],
    *,
    groups: Sequence[Any] | None = None,
    context: int = 16,
    batch_size: int = 32,
) -> np.ndarray:
    """Each word's next-word loss under a causal LM: ``-sum log p(token | preceding text)``.

    Parameters
    ----------
    model : torch.nn.Module
        A causal LM (``...ForCausalLM``).
    tokenizer : fast tokenizer
        With offsets.
    words : sequence of str
        The words in order.
    groups : sequence, optional
        Story of each word; context never crosses a story boundary.
    context : int, default=16
        Preceding words given as context.
    batch_size : int, default=32

    Returns
    -------
    loss : ndarray of shape (n_words,)
        Summed negative log-probability (nats) of the word's tokens. Every input starts with
        the BOS token of the tokenizer (else of the model's config); without one, the first
        word of a story is NaN.
    """
    if not is_causal(model):
        raise NeuroalignError(
            f"word_loss needs a causal LM; {type(model).__name__} is not one (load it with the "
            "causal head)."
        )
    words = [str(w) for w in words]
    groups = np.zeros(len(words)) if groups is None else np.asarray(groups)
    bos = getattr(tokenizer, "bos_token_id", None)
    if bos is None:
        bos = getattr(model.config, "bos_token_id", None)
    seqs, spans, keep = [], [], []
    for i, word in enumerate(words):
        start = i
        while start > 0 and i - start < context and groups[start - 1] == groups[i]:
            start -= 1
        prefix = " ".join(words[start:i])
        text = f"{prefix} {word}" if prefix else word
        enc = tokenizer(text, add_special_tokens=False, return_offsets_mapping=True)
        ids, offs = list(enc["input_ids"]), enc["offset_mapping"]
        first = len(prefix) + (1 if prefix else 0)
        target = [k for k, (a, b) in enumerate(offs) if b > first and b > a]
        if bos is not None:
            ids = [int(bos), *ids]
            target = [k + 1 for k in target]
        target = [k for k in target if k > 0]
        if not target:
            continue
        seqs.append(ids)
        spans.append(target)
        keep.append(i)
    out = np.full(len(words), np.nan)
    device = input_device(model)

    def forward(batch):
        logits = model(input_ids=batch.input_ids, attention_mask=batch.attention_mask).logits
        logp = torch.log_softmax(logits.float(), dim=-1)
        res = []
        for row, j in enumerate(batch.index):
            pos = torch.as_tensor(spans[j], device=logp.device)
            tok = batch.input_ids[row, pos]
            res.append(float(-logp[row, pos - 1, tok].sum()))
        return res

    for index, losses in run_batches(
        seqs, forward, batch_size=batch_size, device=device, pad_id=_pad_id(tokenizer)
    ):
        out[np.asarray(keep)[index]] = losses
    return out

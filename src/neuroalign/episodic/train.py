"""Train a small transformer on sequences with repeated spans, saving checkpoints.

Induction heads form in two-layer models trained on data where copying pays (Olsson et al.
2022). Each training sequence is ``[BOS]`` plus a span of distinct random tokens, of random
length, repeated to fill the sequence; the model is a small Llama-style transformer with eager
attention, so the saved checkpoints load as
``path:<dir>/step<N>`` sources for the head analysis.
"""

from __future__ import annotations

import contextlib
import logging
from pathlib import Path

import numpy as np
import torch

from neuroalign._check import NeuroalignError
from neuroalign._io import atomic_path, write_json_atomic
from neuroalign.episodic.settings import TrainSettings

logger = logging.getLogger(__name__)

BOS_ID = 0


def repeated_span_batch(spec: TrainSettings, rng: np.random.Generator) -> np.ndarray:
    """Random spans repeated until the sequence is full: shape (batch, 1 + 3 * span).

    Each row is ``[BOS]`` plus a span of distinct random tokens, of random length in
    ``[4, span]``, repeated (the last copy cut short). The varying period keeps a fixed
    positional offset from solving the task, so only looking back to the token after the
    previous occurrence of the current one (induction) does.
    """
    length = 3 * spec.span
    out = np.empty((spec.batch_size, length), dtype=np.int64)
    ids = np.arange(1, spec.vocab_size)
    for row in out:
        n = int(rng.integers(4, spec.span + 1))
        span = rng.choice(ids, size=n, replace=False)
        row[:] = np.resize(span, length)
    return np.concatenate([np.full((spec.batch_size, 1), BOS_ID), out], axis=1)


def make_model(spec: TrainSettings, seed: int) -> torch.nn.Module:
    """A freshly initialized Llama-style language model (rotary positions, eager attention).

    Rotary (relative) positions let a previous-token head form quickly, so induction heads
    emerge within a few hundred steps.
    """
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(seed)
    config = LlamaConfig(
        vocab_size=spec.vocab_size,
        hidden_size=spec.n_embd,
        intermediate_size=2 * spec.n_embd,
        num_hidden_layers=spec.n_layer,
        num_attention_heads=spec.n_head,
        num_key_value_heads=spec.n_head,
        max_position_embeddings=8 * spec.span + 2,
        bos_token_id=BOS_ID,
        eos_token_id=BOS_ID,
        pad_token_id=BOS_ID,
        tie_word_embeddings=False,
        attn_implementation="eager",
    )
    return LlamaForCausalLM(config)


@contextlib.contextmanager
def _torch_threads(n: int):
    """Use ``n`` torch threads inside the block (a tiny model gains nothing from more, and on a
    busy machine extra threads mostly wait for each other)."""
    before = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def train(output: str | Path, spec: TrainSettings | None = None, *, seed: int = 0) -> list[Path]:
    """Train and save checkpoints ``<output>/step<N>`` (Hugging Face format), atomically.

    Parameters
    ----------
    output : path
        Directory for the checkpoints and ``train.json`` (settings and losses).
    spec : TrainSettings, optional
        Settings (defaults if None).
    seed : int
        Seed of the initialization and of the data.

    Returns
    -------
    paths : list of Path
        The checkpoint directories, in step order.
    """
    spec = spec or TrainSettings()
    late = [step for step in spec.checkpoints if step > spec.steps]
    if late:
        raise NeuroalignError(
            f"episodic.train.checkpoints: step {late[0]} comes after the last step "
            f"({spec.steps}); use checkpoints of at most steps, or raise steps."
        )
    output = Path(output)
    output.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    model = make_model(spec, seed)
    optimizer = torch.optim.AdamW(model.parameters(), lr=spec.lr, weight_decay=0.0)
    saved, losses = [], []

    def save(step: int) -> None:
        path = output / f"step{step}"
        with atomic_path(path) as tmp:
            model.save_pretrained(tmp)
        saved.append(path)

    if 0 in spec.checkpoints:
        save(0)
    model.train()
    with _torch_threads(1):
        _fit(model, optimizer, spec, rng, save, losses)
    write_json_atomic(
        output / "train.json",
        {
            "spec": spec.to_dict(),
            "seed": seed,
            "loss": losses,
            "checkpoints": [p.name for p in saved],
        },
    )
    return saved


def _fit(model, optimizer, spec: TrainSettings, rng: np.random.Generator, save, losses) -> None:
    """The training loop: one batch per step, checkpoints saved at ``spec.checkpoints``."""
    for step in range(1, spec.steps + 1):
        ids = torch.as_tensor(repeated_span_batch(spec, rng))
        loss = model(input_ids=ids, labels=ids).loss
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(float(loss.detach()))
        if step in spec.checkpoints:
            model.eval()
            save(step)
            model.train()
            logger.info("step %d: loss %.3f", step, losses[-1])

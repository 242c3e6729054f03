"""A tiny GPT-2 causal LM from a config and a byte-level BPE tokenizer trained on a few sentences
(no hub); shared by the word-level reading tests."""

from __future__ import annotations

TEXT = (
    "The old man walked his dog along the river every morning. "
    "Children played near the water while their parents watched from the bank. "
    "A heron stood perfectly still, waiting for a fish to swim past. "
    "Nobody expected the storm that evening, but the clouds gathered quickly."
)


def byte_level_tokenizer(text: str = TEXT, vocab_size: int = 300):
    """A GPT-2-style tokenizer (byte-level BPE, leading-space tokens, ``<|endoftext|>``)."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers
    from transformers import PreTrainedTokenizerFast

    raw = Tokenizer(models.BPE())
    raw.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    raw.decoder = decoders.ByteLevel()
    raw.post_processor = processors.ByteLevel(trim_offsets=True)
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=["<|endoftext|>"],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
    )
    raw.train_from_iterator([text] * 4, trainer)
    return PreTrainedTokenizerFast(
        tokenizer_object=raw,
        bos_token="<|endoftext|>",
        eos_token="<|endoftext|>",
        pad_token="<|endoftext|>",
    )


def tiny_gpt2(vocab_size: int, seed: int = 0, n_positions: int = 128):
    """A 2-block GPT-2 LM head model with random weights."""
    import torch
    from transformers import GPT2Config, GPT2LMHeadModel

    torch.manual_seed(seed)
    config = GPT2Config(
        n_layer=2,
        n_embd=32,
        n_head=4,
        vocab_size=vocab_size,
        n_positions=n_positions,
        bos_token_id=0,
        eos_token_id=0,
    )
    return GPT2LMHeadModel(config).eval()

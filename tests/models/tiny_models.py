"""Builders of tiny random models from configs (no weights, no hub)."""

from __future__ import annotations

import torch


def _small(config_cls, model_cls, seed=0, **kwargs):
    """Build ``model_cls(config_cls(**kwargs))`` with a fixed seed, in eval mode."""
    torch.manual_seed(seed)
    model = model_cls(config_cls(**kwargs)).eval()
    return model


VOCAB = 30522


def make_gpt2(**extra):
    """A 3-block GPT-2 with 4 heads of 8 dims."""
    from transformers import GPT2Config, GPT2Model

    kwargs = dict(n_layer=3, n_embd=32, n_head=4, vocab_size=VOCAB, n_positions=128)
    kwargs.update(bos_token_id=0, eos_token_id=0)
    return _small(GPT2Config, GPT2Model, **{**kwargs, **extra})


#: The decoder of the Llama-style tiny models: grouped-query attention (4 query, 2 key/value heads).
DECODER = dict(
    num_hidden_layers=3,
    hidden_size=32,
    num_attention_heads=4,
    num_key_value_heads=2,
    intermediate_size=48,
    vocab_size=VOCAB,
    max_position_embeddings=128,
    bos_token_id=0,
    eos_token_id=0,
    pad_token_id=0,
)


def make_llama(**extra):
    """A 3-block Llama-style model with grouped-query attention (4 query, 2 key/value heads)."""
    from transformers import LlamaConfig, LlamaModel

    return _small(LlamaConfig, LlamaModel, **{**DECODER, **extra})


def make_mistral(window, **extra):
    """A 3-block Mistral-style model whose attention sees the last ``window`` tokens only."""
    from transformers import MistralConfig, MistralModel

    return _small(MistralConfig, MistralModel, **{**DECODER, "sliding_window": window, **extra})


#: The encoder blocks of the BERT family's tiny models.
ENCODER = dict(num_hidden_layers=2, hidden_size=32, num_attention_heads=4, intermediate_size=48)


def make_bert(**extra):
    """A 2-block BERT."""
    from transformers import BertConfig, BertModel

    kwargs = dict(ENCODER, vocab_size=VOCAB, max_position_embeddings=128)
    return _small(BertConfig, BertModel, **{**kwargs, **extra})


def make_roberta(**extra):
    """A 2-block RoBERTa: its position ids count from its padding index, not from 0."""
    from transformers import RobertaConfig, RobertaModel

    kwargs = dict(ENCODER, vocab_size=VOCAB, max_position_embeddings=130, pad_token_id=1)
    return _small(RobertaConfig, RobertaModel, **{**kwargs, **extra})


def make_clip(**extra):
    """A CLIP with 2-block text and vision towers (32x32 images, 8x8 patches)."""
    from transformers import CLIPConfig, CLIPModel

    tower = dict(num_hidden_layers=2, hidden_size=32, num_attention_heads=4, intermediate_size=48)
    return _small(
        CLIPConfig,
        CLIPModel,
        text_config=dict(tower, vocab_size=VOCAB, max_position_embeddings=64),
        vision_config=dict(tower, image_size=32, patch_size=8),
        **extra,
    )


def make_llava(image_token_id, vocab_size, **extra):
    """A LLaVA-style model: a 2-block CLIP vision tower (32x32 images, 8x8 patches, so 16 image
    tokens) projected into a 3-block Llama-style text model with grouped-query attention."""
    from transformers import LlavaConfig, LlavaForConditionalGeneration

    vision = dict(
        model_type="clip_vision_model",
        num_hidden_layers=2,
        hidden_size=32,
        num_attention_heads=4,
        intermediate_size=48,
        image_size=32,
        patch_size=8,
    )
    text = dict(DECODER, model_type="llama", vocab_size=vocab_size)
    kwargs = dict(
        vision_config=vision,
        text_config=text,
        image_token_index=image_token_id,
        vision_feature_layer=-1,
        vision_feature_select_strategy="default",
    )
    return _small(LlavaConfig, LlavaForConditionalGeneration, **{**kwargs, **extra})


def make_llava_processor(tokenizer_dir, padding_side="right"):
    """A LLaVA processor from a local fast tokenizer (plus an ``<image>`` token) and a CLIP
    image processor for 32x32 images."""
    from transformers import AutoTokenizer, CLIPImageProcessor, LlavaProcessor

    tok = AutoTokenizer.from_pretrained(tokenizer_dir, padding_side=padding_side)
    tok.add_special_tokens({"additional_special_tokens": ["<image>"]})
    images = CLIPImageProcessor(size={"shortest_edge": 32}, crop_size=32)
    return LlavaProcessor(
        image_processor=images,
        tokenizer=tok,
        patch_size=8,
        vision_feature_select_strategy="default",
        image_token="<image>",
        num_additional_image_tokens=1,
    )

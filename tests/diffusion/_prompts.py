"""The empty prompt's text-encoder states of a tiny SD pipeline (a uniquely named helper
module, so test files import it whatever other conftest modules are loaded)."""

import torch


def prompt_states(parts) -> torch.Tensor:
    tok = parts.tokenizer
    ids = tok([""], padding="max_length", max_length=tok.model_max_length, return_tensors="pt")
    with torch.no_grad():
        return parts.text_encoder(ids.input_ids).last_hidden_state


def rois_np(encoder) -> dict:
    return {k: v.numpy() for k, v in encoder.rois.items()}

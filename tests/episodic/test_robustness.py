"""User errors of the episodic stage end in one line that names the fix."""

import json

import pytest

from neuroalign._check import NeuroalignError
from neuroalign.cli import main
from neuroalign.episodic.settings import EpisodicSettings, HeadSettings


def _tiny_gpt2(folder, **config):
    from transformers import GPT2Config, GPT2LMHeadModel

    kwargs = dict(n_layer=1, n_head=2, n_embd=8, vocab_size=64, n_positions=64)
    GPT2LMHeadModel(GPT2Config(**{**kwargs, **config})).save_pretrained(folder)
    return f"path:{folder}"


def _heads(tmp_path, source, capsys, **heads):
    settings = tmp_path / "s.json"
    settings.write_text(json.dumps({"heads": {"n_seq": 2, "n_copy_seq": 1, **heads}}))
    argv = ["episodic", "heads", "--settings", str(settings), "--model", source]
    capsys.readouterr()
    status = main([*argv, "--output", str(tmp_path / "out.nc")])
    err = capsys.readouterr().err.strip()
    assert "Traceback" not in err
    # the library may warn on its own lines; the error is one line, the last
    return status, err.splitlines()[-1] if err else ""


def test_bos_outside_the_vocabulary_is_one_line_with_the_fix(tmp_path, capsys):
    # GPT2Config's default bos_token_id is 50256: outside a 64-token vocabulary
    source = _tiny_gpt2(tmp_path / "m", bos_token_id=50256, eos_token_id=50256)
    status, err = _heads(tmp_path, source, capsys, half_len=8, max_lag=3, fit_lag=2)
    assert status == 2, err
    assert err.startswith("neuroalign episodic: error:")
    assert "bos_token_id" in err and "50256" in err and "64" in err


def test_too_few_positions_is_one_line_naming_half_len(tmp_path, capsys):
    source = _tiny_gpt2(tmp_path / "m", n_positions=16, bos_token_id=0, eos_token_id=0)
    status, err = _heads(tmp_path, source, capsys, half_len=12, max_lag=3, fit_lag=2)
    assert status == 2, err
    assert err.startswith("neuroalign episodic: error:")
    assert "half_len" in err and "16" in err and "25" in err  # 1 BOS + 2 * 12 tokens


@pytest.mark.parametrize("part", ["heads", "train_heads"])
def test_max_lag_that_does_not_fit_half_len_is_refused(part):
    with pytest.raises(NeuroalignError, match=r"max_lag.*half_len") as err:
        EpisodicSettings.from_config({part: {"half_len": 8, "max_lag": 4, "fit_lag": 2}})
    assert len(str(err.value).splitlines()) == 1
    with pytest.raises(NeuroalignError, match="max_lag"):
        HeadSettings(half_len=8, max_lag=4)
    assert HeadSettings(half_len=7, max_lag=3).max_lag == 3  # 2 * 3 + 1 = 7 fits

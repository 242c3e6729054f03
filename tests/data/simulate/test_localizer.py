import json

import nibabel as nib
import numpy as np
import pandas as pd

from neuroalign.data.simulate import SimLocalizerSettings
from neuroalign.data.simulate.localizer import block_events, nonword
from neuroalign.recovery import recover_localizer


def test_block_design_balances_conditions_with_fixation():
    cfg = SimLocalizerSettings(blocks_per_condition=4)
    events = block_events(np.random.default_rng(0), ["a b c"] * 20, cfg)
    items = events[events["trial_type"] != "fixation"]
    assert items["trial_type"].value_counts().to_dict() == {"sentence": 12, "nonword": 12}
    assert items.groupby("block")["trial_type"].nunique().eq(1).all()
    assert (
        events["trial_type"].iloc[0] == "fixation" and events["trial_type"].iloc[-1] == "fixation"
    )
    ends = (events["onset"] + events["duration"]).to_numpy()
    assert np.allclose(ends[:-1], events["onset"].to_numpy()[1:])  # back to back


def test_nonwords_are_letters_only():
    rng = np.random.default_rng(0)
    words = [nonword(rng) for _ in range(50)]
    assert all(w.isalpha() and w.islower() for w in words)


def test_bids_events_and_runs(sim_localizer):
    func = sim_localizer / "sub-01" / "func"
    runs = sorted(func.glob("sub-01_task-langloc_run-*_bold.nii.gz"))
    assert len(runs) == 2
    events = pd.read_csv(func / "sub-01_task-langloc_run-01_events.tsv", sep="\t")
    assert {"onset", "duration", "trial_type", "stimulus"} <= set(events.columns)
    assert set(events["trial_type"]) == {"sentence", "nonword", "fixation"}
    sentences = events.loc[events["trial_type"] == "sentence", "stimulus"]
    assert sentences.str.split().str.len().between(6, 16).all()
    n_scans = nib.load(runs[0]).shape[3]
    assert n_scans * 2.0 >= (events["onset"] + events["duration"]).max()


def test_recovered_t_map_finds_the_planted_language_mask(sim_localizer):
    rec = recover_localizer(sim_localizer)
    summary = json.loads(rec.attrs["summary"])
    assert summary["language_mask_dice"] > 0.8
    assert 0.8 < summary["contrast_slope"] < 1.2
    assert rec["planted_contrast"].dims == rec["recovered_contrast"].dims == ("subject", "voxel")
    visual = nib.load(sim_localizer / "derivatives/neuroalign-truth/visual_mask.nii.gz")
    ijk = tuple(rec[c].to_numpy() for c in ("voxel_i", "voxel_j", "voxel_k"))
    in_visual = visual.get_fdata()[ijk].astype(bool)
    # Visual voxels respond to both conditions: no contrast there.
    assert abs(rec["recovered_contrast"].to_numpy()[0, in_visual].mean()) < 0.3


def test_same_seed_gives_identical_runs(tmp_path):
    from neuroalign.data.simulate import simulate_localizer

    settings = {"n_subjects": 1, "n_runs": 1, "blocks_per_condition": 2, "voxel_size": 12}
    a = simulate_localizer(
        tmp_path / "a", SimLocalizerSettings.from_config({**settings, "seed": 1})
    )
    b = simulate_localizer(
        tmp_path / "b", SimLocalizerSettings.from_config({**settings, "seed": 1})
    )
    name = "sub-01/func/sub-01_task-langloc_run-01"
    assert np.array_equal(
        np.asarray(nib.load(a / f"{name}_bold.nii.gz").dataobj),
        np.asarray(nib.load(b / f"{name}_bold.nii.gz").dataobj),
    )
    assert (a / f"{name}_events.tsv").read_bytes() == (b / f"{name}_events.tsv").read_bytes()

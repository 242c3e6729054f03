import json

import nibabel as nib
import numpy as np
import pandas as pd
import xarray as xr
from nilearn.maskers import NiftiMasker

from neuroalign.data.simulate import SimFmriSettings, simulate_fmri
from neuroalign.data.simulate.story import chapter_words
from neuroalign.recovery import recover_fmri

TRUTH = "derivatives/neuroalign-truth"


def test_bids_layout_and_sidecars(sim_fmri):
    desc = json.loads((sim_fmri / "dataset_description.json").read_text())
    assert desc["DatasetType"] == "raw"
    assert desc["GeneratedBy"][0]["Name"] == "neuroalign"
    participants = pd.read_csv(sim_fmri / "participants.tsv", sep="\t")
    assert participants["participant_id"].tolist() == ["sub-01"]
    func = sim_fmri / "sub-01" / "func"
    names = sorted(p.name for p in func.glob("*_bold.nii.gz"))
    assert "sub-01_task-lighthouse_run-01_bold.nii.gz" in names
    assert [n for n in names if "task-storm" in n] == [
        f"sub-01_task-storm_run-{r:02d}_bold.nii.gz" for r in (1, 2, 3)
    ]
    assert len(names) == 7
    sidecar = json.loads((func / "sub-01_task-ferry_run-01_bold.json").read_text())
    assert sidecar["RepetitionTime"] == 2.0 and sidecar["TaskName"] == "ferry"


def test_bold_is_a_readable_4d_image_on_an_mni_grid(sim_fmri):
    func = sim_fmri / "sub-01" / "func"
    img = nib.load(func / "sub-01_task-orchard_run-01_bold.nii.gz")
    assert img.ndim == 4 and img.header.get_zooms() == (8.0, 8.0, 8.0, 2.0)
    mask = nib.load(sim_fmri / TRUTH / "brain_mask.nii.gz")
    assert 2000 < mask.get_fdata().sum() < 6000
    series = NiftiMasker(mask_img=mask, standardize=None).fit_transform(img)
    assert series.shape[0] == img.shape[3] and np.all(series > 0)


def test_events_align_with_story_words(sim_fmri):
    events = pd.read_csv(
        sim_fmri / "sub-01" / "func" / "sub-01_task-archive_run-01_events.tsv", sep="\t"
    )
    assert list(events.columns[:4]) == ["onset", "duration", "trial_type", "word"]
    assert set(events["trial_type"]) == {"word"}
    assert events["word"].tolist() == chapter_words()["archive"]["word"].tolist()
    assert np.all(np.diff(events["onset"]) > 0)
    n_scans = nib.load(
        sim_fmri / "sub-01" / "func" / "sub-01_task-archive_run-01_bold.nii.gz"
    ).shape[3]
    assert events["onset"].iloc[-1] < n_scans * 2.0 - 16


def test_test_repeats_share_stimulus_but_not_noise(sim_fmri):
    func = sim_fmri / "sub-01" / "func"
    e1 = pd.read_csv(func / "sub-01_task-storm_run-01_events.tsv", sep="\t")
    e2 = pd.read_csv(func / "sub-01_task-storm_run-02_events.tsv", sep="\t")
    assert e1.equals(e2)
    b1 = nib.load(func / "sub-01_task-storm_run-01_bold.nii.gz").get_fdata()
    b2 = nib.load(func / "sub-01_task-storm_run-02_bold.nii.gz").get_fdata()
    assert b1.shape == b2.shape and not np.array_equal(b1, b2)


def test_truth_has_weights_only_in_language_voxels(sim_fmri):
    with xr.open_dataset(sim_fmri / TRUTH / "truth.nc", engine="h5netcdf") as truth:
        weights = truth["weights"].to_numpy()
        language = truth["language_mask"].to_numpy().astype(bool)
        assert weights.shape[1] == 19  # 16 hashed + length, frequency, surprisal
        assert np.all(weights[..., ~language] == 0)
        assert np.all(np.abs(weights[..., language]).sum(axis=1) > 0)
        assert 50 < language.sum() < 400
        assert np.all(truth["x"].to_numpy()[language & (truth["roi"].to_numpy() < 4)] < 0)
        assert truth.attrs["seed"] == "7" and truth.attrs["stage"] == "simulate"
    mask_img = nib.load(sim_fmri / TRUTH / "language_mask.nii.gz")
    assert mask_img.get_fdata().sum() == language.sum()
    summary = json.loads((sim_fmri / TRUTH / "truth.json").read_text())
    assert summary["n_language_voxels"] == language.sum()


def test_recovery_matches_planted(sim_fmri):
    rec = recover_fmri(sim_fmri)
    summary = json.loads(rec.attrs["summary"])
    assert summary["test_r_language_mean"] > 0.5
    assert abs(summary["test_r_other_mean"]) < 0.05
    assert summary["weights_corr_language"] > 0.85
    assert summary["explainable_variance_corr"] > 0.6
    assert summary["language_mask_dice"] > 0.8
    for name in ("weights", "explainable_variance", "test_r", "language_mask"):
        assert rec[f"planted_{name}"].dims == rec[f"recovered_{name}"].dims
    language = rec["planted_language_mask"].to_numpy()[0].astype(bool)
    ev_p = rec["planted_explainable_variance"].to_numpy()[0, language]
    ev_r = rec["recovered_explainable_variance"].to_numpy()[0, language]
    assert abs(ev_r.mean() - ev_p.mean()) < 0.1


def test_same_seed_gives_identical_arrays_and_other_seed_differs(tmp_path):
    settings = {
        "n_subjects": 1,
        "train_stories": ["lighthouse"],
        "test_repeats": 2,
        "voxel_size": 12,
    }
    a = simulate_fmri(tmp_path / "a", SimFmriSettings.from_config({**settings, "seed": 3}))
    b = simulate_fmri(tmp_path / "b", SimFmriSettings.from_config({**settings, "seed": 3}))
    c = simulate_fmri(tmp_path / "c", SimFmriSettings.from_config({**settings, "seed": 4}))
    name = "sub-01/func/sub-01_task-storm_run-02_bold.nii.gz"
    data = [np.asarray(nib.load(d / name).dataobj) for d in (a, b, c)]
    assert np.array_equal(data[0], data[1])
    assert not np.array_equal(data[0], data[2])
    with (
        xr.open_dataset(a / TRUTH / "truth.nc", engine="h5netcdf") as ta,
        xr.open_dataset(b / TRUTH / "truth.nc", engine="h5netcdf") as tb,
    ):
        assert np.array_equal(ta["weights"], tb["weights"])


def test_external_features_drive_the_voxels(tmp_path):
    words = chapter_words()
    texts = np.concatenate([w["text"].to_numpy() for w in words.values()])
    rng = np.random.default_rng(0)
    frame = pd.DataFrame(
        rng.standard_normal((len(texts), 40)), columns=[f"u{i}" for i in range(40)]
    )
    frame.insert(0, "text", texts)
    frame.to_csv(tmp_path / "features.csv", index=False)
    from neuroalign.data.simulate import read_feature_table

    table = read_feature_table(tmp_path / "features.csv")
    settings = {
        "n_subjects": 1,
        "train_stories": ["lighthouse"],
        "test_repeats": 2,
        "voxel_size": 12,
        "feature_dim": 5,
    }
    out = simulate_fmri(
        tmp_path / "ext", SimFmriSettings.from_config({**settings, "seed": 0}), features=table
    )
    with xr.open_dataset(out / TRUTH / "truth.nc", engine="h5netcdf") as truth:
        assert truth.sizes["feature"] == 8
        assert truth.attrs["features_source"].endswith("features.csv")
        hashed = simulate_fmri(
            tmp_path / "hashed", SimFmriSettings.from_config({**settings, "seed": 0})
        )
        with xr.open_dataset(hashed / TRUTH / "truth.nc", engine="h5netcdf") as other:
            assert not np.allclose(truth["word_features"][:, 0], other["word_features"][:, 0])

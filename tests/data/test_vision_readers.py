"""Vision-betas readers on tiny format-faithful fixtures, z-scoring and the noise ceiling."""

from __future__ import annotations

from pathlib import Path

import h5py
import nibabel as nib
import numpy as np
import pandas as pd
import pytest
from scipy.io import savemat

from neuroalign._check import NeuroalignError
from neuroalign.data.vision import (
    VisionBetas,
    detect_format,
    ncsnr,
    noise_ceiling,
    planted_noise_ceiling,
    read_image_table,
    read_vision_betas,
    zscore_sessions,
)

SHAPE = (4, 3, 2)
AFFINE = np.diag([2.0, 2.0, 2.0, 1.0])


def planted_betas(snr, n_images=200, repeats=3, sessions=2, seed=0):
    rng = np.random.default_rng(seed)
    signal = rng.standard_normal((n_images, snr.size)) * snr
    ids = np.tile(np.arange(n_images), repeats)
    betas = signal[ids] + rng.standard_normal((ids.size, snr.size))
    session = np.repeat(np.arange(1, sessions + 1), -(-ids.size // sessions))[: ids.size]
    betas = betas * (1 + session[:, None]) + 5 * session[:, None]  # session scale and offset
    return VisionBetas(
        betas=betas,
        image_ids=ids.astype(str),
        repeat=np.repeat(np.arange(repeats), n_images),
        session=session,
        split=np.where(ids < 50, "test", "train"),
    )


def test_noise_ceiling_recovers_planted_snr():
    levels = np.linspace(0.0, 2.0, 9)
    snr = np.repeat(levels, 20)
    betas = planted_betas(snr, n_images=400)
    mean_snr = ncsnr(betas).reshape(9, 20).mean(axis=1)
    np.testing.assert_allclose(mean_snr[1:], levels[1:], rtol=0.05, atol=0.04)
    assert mean_snr[0] < 0.15
    nc = noise_ceiling(betas).reshape(9, 20).mean(axis=1)
    np.testing.assert_allclose(nc, planted_noise_ceiling(levels, 3), atol=4.0)
    assert noise_ceiling(betas, n_average=1).mean() < noise_ceiling(betas).mean()


def test_noise_ceiling_needs_repeats():
    betas = VisionBetas(np.zeros((3, 2)), ["a", "b", "c"], [0, 0, 0], [1, 1, 1], ["train"] * 3)
    with pytest.raises(NeuroalignError, match="shown twice"):
        noise_ceiling(betas)


def test_zscore_and_average_repeats():
    betas = planted_betas(np.ones(3))
    z = zscore_sessions(betas.betas, betas.session)
    for s in (1, 2):
        np.testing.assert_allclose(z[betas.session == s].mean(0), 0, atol=1e-5)
        np.testing.assert_allclose(z[betas.session == s].std(0), 1, atol=1e-4)
    avg = betas.average_repeats()
    assert avg.n_trials == 200 and set(avg.repeat) == {3}
    assert (avg.split == "test").sum() == 50
    np.testing.assert_allclose(avg.betas[0], betas.betas[betas.image_ids == "0"].mean(0), rtol=1e-5)


def test_visionbetas_checks_fields():
    with pytest.raises(NeuroalignError, match="field 'split'"):
        VisionBetas(np.zeros((2, 1)), ["a", "b"], [0, 0], [1, 1], ["train", "val"])
    with pytest.raises(NeuroalignError, match="ROI 'v1'"):
        VisionBetas(np.zeros((1, 2)), ["a"], [0], [1], ["train"], rois={"v1": [True]})


# ------------------------------------------------------------------------------------------
# THINGS-fMRI layout


def things_run_images(ses: int, run: int) -> list[str]:
    """One run's images in the release's order (sorted, as the betas are): a test image shown
    in every session, two images of this run only, a catch image."""
    test = "cat/cat_01s.jpg" if run == 1 else "bee/bee_01s.jpg"
    return sorted([test, f"dog/dog_{ses}{run}s.jpg", f"cup/cup_{ses}{run}s.jpg", "catch008.jpg"])


def write_things(root: Path, rng) -> np.ndarray:
    """THINGS-fMRI betas_vol as released: conditions with an unnamed index and image_filename."""
    folder = root / "betas_vol" / "sub-01"
    truth = []
    for ses in (1, 2):
        for run in (1, 2):
            data = rng.standard_normal((*SHAPE, 4)).astype(np.float32)
            data[0, 0, 0] = 0  # off-brain voxel
            stem = folder / f"ses-things{ses:02d}" / f"sub-01_ses-things{ses:02d}_run-{run:02d}"
            stem.parent.mkdir(parents=True, exist_ok=True)
            nib.save(nib.Nifti1Image(data, AFFINE), f"{stem}_betas.nii.gz")
            names = things_run_images(ses, run)
            pd.DataFrame(names).to_csv(
                f"{stem}_conditions.tsv", sep="\t", header=["image_filename"]
            )
            truth.append(data[..., [i for i, n in enumerate(names) if not n.startswith("catch")]])
    roi = np.zeros(SHAPE, np.uint8)
    roi[1, :, :] = 1
    (folder / "rois").mkdir()
    nib.save(nib.Nifti1Image(roi, AFFINE), folder / "rois" / "sub-01_FFA.nii.gz")
    return np.concatenate(truth, axis=3)


def test_things_round_trip(tmp_path):
    rng = np.random.default_rng(1)
    truth = write_things(tmp_path, rng)
    cond = tmp_path / "betas_vol/sub-01/ses-things01/sub-01_ses-things01_run-01_conditions.tsv"
    assert cond.read_text().splitlines()[:2] == ["\timage_filename", "0\tcat/cat_01s.jpg"]
    assert detect_format(tmp_path) == "things"
    betas = read_vision_betas(tmp_path, "01", zscore_sessions=False)
    inside = np.any(truth != 0, axis=3)
    assert betas.n_trials == 12 and betas.n_voxels == inside.sum() == 23
    np.testing.assert_allclose(betas.betas, truth[inside].T)
    assert list(betas.image_ids[:3]) == ["cat_01s", "cup_11s", "dog_11s"]
    assert "catch008" not in betas.image_ids
    assert list(betas.repeat[betas.image_ids == "cat_01s"]) == [0, 1]
    assert list(betas.session) == [1] * 6 + [2] * 6
    # the images shown in every session are the test images
    assert sorted(set(betas.image_ids[betas.split == "test"])) == ["bee_01s", "cat_01s"]
    assert (betas.split == "test").sum() == 4
    assert betas.rois["FFA"].sum() == 6
    vol = betas.to_volume(betas.betas[:2])
    np.testing.assert_allclose(vol.get_fdata()[..., 1][inside], truth[inside][:, 1])
    table = read_image_table(tmp_path)
    assert "catch008" not in set(table["image_id"]) and len(table) == 10
    assert table["category"][0] == "cat" and table["image"][0] == "cat/cat_01s.jpg"


def test_things_bad_conditions_names_file_and_field(tmp_path):
    write_things(tmp_path, np.random.default_rng(0))
    cond = next((tmp_path / "betas_vol").rglob("*_conditions.tsv"))
    pd.DataFrame({"trial_type": ["exp"] * 4}).to_csv(cond, sep="\t", index=False)
    with pytest.raises(NeuroalignError, match=r"conditions\.tsv: field 'image_filename'") as err:
        read_vision_betas(tmp_path, "01")
    assert "\n" not in str(err.value)


# ------------------------------------------------------------------------------------------
# NSD


def write_nsd(root: Path, rng, *, hdf5: bool, n_trials=6):
    design = root / "nsddata/experiments/nsd"
    design.mkdir(parents=True)
    # subject 1 sees 4 of its own images; subjectim maps them to 73k ids 11, 12, 13, 14 (1-based)
    subjectim = np.zeros((8, 4), np.int64)
    subjectim[0] = [11, 12, 13, 14]
    masterordering = np.array([[1, 2, 3, 1, 4, 2, 3, 1, 2, 4, 4, 3]])
    savemat(design / "nsd_expdesign.mat", {
        "masterordering": masterordering, "subjectim": subjectim, "sharedix": np.array([[12, 99]]),
    })  # fmt: skip
    pd.DataFrame(
        {"nsdId": [10, 11, 12, 13], "cocoId": [5, 6, 7, 8], "shared1000": [0, 1, 0, 0]}
    ).to_csv(design / "nsd_stim_info_merged.csv")
    roi_dir = root / "nsddata/ppdata/subj01/func1pt8mm/roi"
    roi_dir.mkdir(parents=True)
    general = -np.ones(SHAPE, np.int16)
    general[1:, :, :] = 0
    general[2:, :, :] = 1
    nib.save(nib.Nifti1Image(general, AFFINE), roi_dir / "nsdgeneral.nii.gz")
    visual = np.zeros(SHAPE, np.int16)
    visual[2] = 1
    visual[3] = 2
    nib.save(nib.Nifti1Image(visual, AFFINE), roi_dir / "prf-visualrois.nii.gz")
    label = root / "nsddata/freesurfer/subj01/label"
    label.mkdir(parents=True)
    (label / "prf-visualrois.mgz.ctab").write_text("0 Unknown\n1 V1v\n2 V1d\n")
    folder = root / "nsddata_betas/ppdata/subj01/func1pt8mm/betas_fithrf_GLMdenoise_RR"
    folder.mkdir(parents=True)
    raw = []
    for ses in (1, 2):
        data = rng.integers(-3000, 3000, (*SHAPE, n_trials)).astype(np.int16)
        raw.append(data)
        if hdf5:
            with h5py.File(folder / f"betas_session{ses:02d}.hdf5", "w") as f:
                f["betas"] = data.transpose(3, 2, 1, 0)
        else:
            nib.save(nib.Nifti1Image(data, AFFINE), folder / f"betas_session{ses:02d}.nii.gz")
    return np.concatenate(raw, axis=3), general > 0


@pytest.mark.parametrize("hdf5", [True, False])
def test_nsd_round_trip(tmp_path, monkeypatch, hdf5):
    from neuroalign.data.vision import _nsd

    monkeypatch.setattr(_nsd, "TRIALS_PER_SESSION", 6)
    raw, inside = write_nsd(tmp_path, np.random.default_rng(2), hdf5=hdf5)
    assert detect_format(tmp_path) == "nsd"
    betas = read_vision_betas(tmp_path, "1", zscore_sessions=False)
    assert betas.subject == "subj01" and betas.n_voxels == inside.sum() == 12
    np.testing.assert_allclose(betas.betas, raw[inside].T / 300.0, rtol=1e-6)
    expected = ["00010", "00011", "00012", "00010", "00013", "00011"] * 1
    assert list(betas.image_ids[:6]) == expected
    assert list(betas.split[:3]) == ["train", "test", "train"]  # 73k id 12 is shared
    assert list(betas.repeat[:6]) == [0, 0, 0, 1, 0, 1]
    assert list(betas.session) == [1] * 6 + [2] * 6
    assert betas.rois["nsdgeneral"].all()
    assert betas.rois["prf-visualrois_V1v"].sum() == 6
    table = read_image_table(tmp_path)
    assert list(table["image_id"]) == ["00010", "00011", "00012", "00013"]
    assert table["image"][0].endswith("00010.png")


def test_nsd_bad_expdesign(tmp_path):
    write_nsd(tmp_path, np.random.default_rng(0), hdf5=False)
    savemat(tmp_path / "nsddata/experiments/nsd/nsd_expdesign.mat", {"subjectim": np.ones((8, 2))})
    with pytest.raises(NeuroalignError, match=r"nsd_expdesign\.mat: field 'masterordering'"):
        read_vision_betas(tmp_path, "subj01")


def test_nsd_repeat_counts_showings_in_sessions_not_read(tmp_path, monkeypatch):
    from neuroalign.data.vision import _nsd

    monkeypatch.setattr(_nsd, "TRIALS_PER_SESSION", 6)
    write_nsd(tmp_path, np.random.default_rng(6), hdf5=False)
    folder = tmp_path / "nsddata_betas/ppdata/subj01/func1pt8mm/betas_fithrf_GLMdenoise_RR"
    (folder / "betas_session01.nii.gz").unlink()
    betas = read_vision_betas(tmp_path, "1", zscore_sessions=False)
    # session 2 shows images 3 1 2 4 4 3; session 1 (not read) showed 1 2 3 1 4 2
    assert list(betas.session) == [2] * 6
    assert list(betas.repeat) == [1, 2, 2, 1, 2, 2]


def test_nsd_hemisphere_rois_take_label_names_from_the_ctab(tmp_path, monkeypatch):
    from neuroalign.data.vision import _nsd

    monkeypatch.setattr(_nsd, "TRIALS_PER_SESSION", 6)
    write_nsd(tmp_path, np.random.default_rng(7), hdf5=False)
    roi_dir = tmp_path / "nsddata/ppdata/subj01/func1pt8mm/roi"
    labels = np.zeros(SHAPE, np.int16)
    labels[2, 0] = 2
    nib.save(nib.Nifti1Image(labels, AFFINE), roi_dir / "lh.prf-visualrois.nii.gz")
    betas = read_vision_betas(tmp_path, "1", zscore_sessions=False)
    assert betas.rois["lh.prf-visualrois_V1d"].sum() == 2
    assert "lh.prf-visualrois_2" not in betas.rois


def _three_d_hdf5(path: Path) -> None:
    with h5py.File(path, "w") as f:
        f["betas"] = np.zeros((6, 2, 3), np.int16)


@pytest.mark.parametrize(
    ("hdf5", "spoil", "message"),
    [
        (True, _three_d_hdf5, r"hdf5: field 'betas' has shape \(6, 2, 3\); expected 4-D"),
        (True, lambda p: p.write_bytes(b"not hdf5"), r"hdf5: field 'betas' unreadable"),
        (False, lambda p: p.write_bytes(b"\x1f\x8b truncated"), r"nii\.gz: cannot read the betas"),
    ],
)
def test_nsd_malformed_betas_name_the_file(tmp_path, monkeypatch, hdf5, spoil, message):
    from neuroalign.data.vision import _nsd

    monkeypatch.setattr(_nsd, "TRIALS_PER_SESSION", 6)
    write_nsd(tmp_path, np.random.default_rng(8), hdf5=hdf5)
    folder = tmp_path / "nsddata_betas/ppdata/subj01/func1pt8mm/betas_fithrf_GLMdenoise_RR"
    spoil(folder / f"betas_session02.{'hdf5' if hdf5 else 'nii.gz'}")
    with pytest.raises(NeuroalignError, match=message) as err:
        read_vision_betas(tmp_path, "1")
    assert "betas_session02" in str(err.value) and "\n" not in str(err.value)


# ------------------------------------------------------------------------------------------
# BOLD5000 and NOD


def test_bold5000_round_trip(tmp_path):
    rng = np.random.default_rng(3)
    names = [["a.jpg", "b.jpg", "rep.jpg"], ["c.jpg", "rep.jpg"]]
    raw = []
    for ses, shown in enumerate(names, start=1):
        data = rng.standard_normal((*SHAPE, len(shown))).astype(np.float32) + 1
        raw.append(data)
        path = tmp_path / f"CSI1_GLMbetas-TYPED-FITHRF-GLMDENOISE-RR_ses-{ses:02d}.nii.gz"
        nib.save(nib.Nifti1Image(data, AFFINE), path)
    (tmp_path / "CSI1_imgnames.txt").write_text("\n".join(n for s in names for n in s) + "\n")
    stim = tmp_path / "BOLD5000_Stimuli/Scene_Stimuli/Presented_Stimuli/COCO"
    stim.mkdir(parents=True)
    (stim / "a.jpg").write_bytes(b"")
    assert detect_format(tmp_path) == "bold5000"
    betas = read_vision_betas(tmp_path, "CSI1", zscore_sessions=False)
    np.testing.assert_allclose(betas.betas, np.concatenate(raw, 3).reshape(-1, 5).T)
    assert list(betas.image_ids) == ["a", "b", "rep", "c", "rep"]
    assert list(betas.split) == ["train", "train", "test", "train", "test"]
    table = read_image_table(tmp_path)
    assert table.loc[0, "category"] == "COCO" and table.loc[0, "image_id"] == "a"
    (tmp_path / "CSI1_imgnames.txt").write_text("a.jpg\n")
    with pytest.raises(
        NeuroalignError, match=r"ses-01\.nii\.gz: 3 beta volumes but the stimulus list gives 1"
    ):
        read_vision_betas(tmp_path, "CSI1")


def _dscalar(data: np.ndarray, path: Path, names: list[str]) -> None:
    """A dscalar file as NOD's GLM writes it: one map per trial, named by its image file."""
    axes = nib.cifti2.BrainModelAxis.from_mask(np.ones((data.shape[1], 1, 1)), affine=np.eye(4))
    scalar = nib.cifti2.ScalarAxis(names)
    nib.save(nib.Cifti2Image(data, header=(scalar, axes)), path)


def test_nod_round_trip(tmp_path):
    rng = np.random.default_rng(4)
    runs = {"imagenet01": ["n01_1.JPEG", "n02_2.JPEG"], "coco": ["coco1.jpg", "coco1.jpg"]}
    expected = []
    for ses, names in runs.items():
        stem = f"ses-{ses}_task-{'imagenet' if ses != 'coco' else 'coco'}_run-1"
        folder = tmp_path / "derivatives/ciftify/sub-01/results" / stem
        folder.mkdir(parents=True)
        data = rng.standard_normal((2, 7)).astype(np.float32)
        expected.append(data)
        _dscalar(data, folder / f"{stem}_beta.dscalar.nii", names)
        (folder / f"{stem}_label.txt").write_text("".join(names))  # writelines: no separators
    assert detect_format(tmp_path) == "nod"
    betas = read_vision_betas(tmp_path, "01", zscore_sessions=False)
    np.testing.assert_allclose(betas.betas, np.concatenate(expected[::-1]), rtol=1e-6)
    assert list(betas.image_ids) == ["coco1", "coco1", "n01_1", "n02_2"]
    assert list(betas.split) == ["test", "test", "train", "train"] and betas.mask is None
    with pytest.raises(NeuroalignError, match="no volume mask"):
        betas.to_volume(np.zeros(7))
    table = read_image_table(tmp_path)
    assert sorted(table["category"]) == ["coco", "n01", "n02"]


def test_unknown_layout_and_format(tmp_path):
    with pytest.raises(NeuroalignError, match="no known vision-betas layout"):
        read_vision_betas(tmp_path, "01")
    with pytest.raises(NeuroalignError, match="Did you mean"):
        read_vision_betas(tmp_path, "01", format="nds")


def test_export_nsd_images_writes_the_tables_files(tmp_path):
    from PIL import Image

    from neuroalign.data.vision._nsd import STIM_BRICK, export_nsd_images

    write_nsd(tmp_path, np.random.default_rng(5), hdf5=False)
    brick = tmp_path / STIM_BRICK
    brick.parent.mkdir(parents=True)
    pixels = np.random.default_rng(0).integers(0, 255, (14, 8, 8, 3), dtype=np.uint8)
    with h5py.File(brick, "w") as f:
        f["imgBrick"] = pixels
    table = read_image_table(tmp_path)
    export_nsd_images(tmp_path, list(table["image_id"]))
    saved = np.asarray(Image.open(tmp_path / table["image"][1]))
    np.testing.assert_array_equal(saved, pixels[11])

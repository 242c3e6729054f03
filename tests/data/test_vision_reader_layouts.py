"""Vision-betas readers on the released layouts: file locations, variants, malformed files."""

from __future__ import annotations

from pathlib import Path

import nibabel as nib
import numpy as np
import pandas as pd
import pytest

from neuroalign._check import NeuroalignError
from neuroalign.data.vision import read_image_table, read_vision_betas

SHAPE = (4, 3, 2)
AFFINE = np.diag([2.0, 2.0, 2.0, 1.0])


def _one_line(err: pytest.ExceptionInfo) -> str:
    message = str(err.value)
    assert "\n" not in message
    return message


# ------------------------------------------------------------------------------------------
# THINGS-fMRI


def write_things_run(folder: Path, ses: str, run: str, names: list[str], rng) -> np.ndarray:
    """One run as released: 4-D betas and conditions (unnamed index, image_filename)."""
    data = rng.standard_normal((*SHAPE, len(names))).astype(np.float32) + 3
    stem = folder / f"ses-{ses}" / f"sub-01_ses-{ses}_run-{run}"
    stem.parent.mkdir(parents=True, exist_ok=True)
    nib.save(nib.Nifti1Image(data, AFFINE), f"{stem}_betas.nii.gz")
    pd.DataFrame(names).to_csv(f"{stem}_conditions.tsv", sep="\t", header=["image_filename"])
    return data


def write_events(root: Path, ses: str, run: str, rows: list[tuple[str, str]]) -> None:
    """A BIDS events file of THINGS-fMRI (file_path, trial_type), in presentation order."""
    func = root / "rawdata" / "sub-01" / f"ses-{ses}" / "func"
    func.mkdir(parents=True, exist_ok=True)
    frame = pd.DataFrame(rows, columns=["file_path", "trial_type"])
    frame.insert(0, "onset", np.arange(len(rows)) * 4.5)
    frame.insert(1, "duration", 0.5)
    frame.to_csv(func / f"sub-01_ses-{ses}_task-things_run-{run}_events.tsv", sep="\t", index=False)


def test_things_release_paths_under_derivatives(tmp_path):
    rng = np.random.default_rng(0)
    folder = tmp_path / "derivatives/betas_vol/scalematched/sub-01"
    for ses in ("things01", "things02"):
        write_things_run(folder, ses, "01", ["cat/cat_01s.jpg", f"dog/dog_{ses}.jpg"], rng)
    masks = tmp_path / "derivatives/brainmasks"
    masks.mkdir(parents=True)
    brain = np.zeros(SHAPE, np.uint8)
    brain[1:] = 1
    nib.save(nib.Nifti1Image(brain, AFFINE), masks / "sub-01_space-T1w_brainmask.nii.gz")
    parcels = tmp_path / "derivatives/rois/category_localizer/sub-01/face_parcels"
    parcels.mkdir(parents=True)
    ffa = np.zeros(SHAPE, np.uint8)
    ffa[3, 0] = 1
    nib.save(nib.Nifti1Image(ffa, AFFINE), parcels / "sub-01_lFFA.nii.gz")
    betas = read_vision_betas(tmp_path, "01", zscore_sessions=False)
    assert betas.n_voxels == brain.sum() == 18
    assert betas.rois["lFFA"].sum() == 2
    assert list(betas.split) == ["test", "train", "test", "train"]
    assert list(read_image_table(tmp_path)["image_id"]) == [
        "cat_01s",
        "dog_things01",
        "dog_things02",
    ]


def test_things_trial_types_from_bids_events(tmp_path):
    rng = np.random.default_rng(1)
    names = ["bee/bee_01s.jpg", "catch008.jpg", "dog/dog_02s.jpg"]
    write_things_run(tmp_path / "betas_vol/sub-01", "things01", "01", names, rng)
    write_events(
        tmp_path,
        "things01",
        "01",
        [("dog/dog_02s.jpg", "exp"), ("catch008.jpg", "catch"), ("bee/bee_01s.jpg", "test")],
    )
    betas = read_vision_betas(tmp_path, "01", zscore_sessions=False)
    assert list(betas.image_ids) == ["bee_01s", "dog_02s"]
    assert list(betas.split) == ["test", "train"]


def test_things_trial_type_column_is_kept(tmp_path):
    rng = np.random.default_rng(2)
    write_things_run(tmp_path / "betas_vol/sub-01", "1", "1", ["a/x.png", "a/y.png"], rng)
    cond = tmp_path / "betas_vol/sub-01/ses-1/sub-01_ses-1_run-1_conditions.tsv"
    pd.DataFrame({"image_filename": ["a/x.png", "a/y.png"], "trial_type": ["test", "exp"]}).to_csv(
        cond, sep="\t", index=False
    )
    betas = read_vision_betas(tmp_path, "01", zscore_sessions=False)
    assert list(betas.split) == ["test", "train"]


def test_things_one_session_without_trial_types_is_an_error(tmp_path):
    rng = np.random.default_rng(3)
    write_things_run(tmp_path / "betas_vol/sub-01", "things01", "01", ["a/x.jpg", "b/y.jpg"], rng)
    with pytest.raises(NeuroalignError, match="one session only") as err:
        read_vision_betas(tmp_path, "01")
    assert "sub-01" in _one_line(err)


def test_things_corrupt_betas_name_the_file(tmp_path):
    rng = np.random.default_rng(4)
    write_things_run(tmp_path / "betas_vol/sub-01", "things01", "01", ["a/x.jpg"], rng)
    path = tmp_path / "betas_vol/sub-01/ses-things01/sub-01_ses-things01_run-01_betas.nii.gz"
    path.write_bytes(path.read_bytes()[:60])
    with pytest.raises(
        NeuroalignError, match=r"run-01_betas\.nii\.gz: cannot read the betas"
    ) as err:
        read_vision_betas(tmp_path, "01")
    _one_line(err)


# ------------------------------------------------------------------------------------------
# BOLD5000


def write_bold5000_session(root: Path, variant: str, ses: int, n: int, rng, **kw) -> np.ndarray:
    data = kw.get("data")
    if data is None:
        data = rng.standard_normal((*kw.get("shape", SHAPE), n)).astype(np.float32) + 1
    folder = root / kw.get("folder", "")
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"CSI1_GLMbetas-{variant}_ses-{ses:02d}.nii.gz"
    nib.save(nib.Nifti1Image(data, kw.get("affine", AFFINE)), path)
    return data


def write_lists(root: Path, runs: dict[int, list[str]]) -> None:
    """Per-session, per-run presentation lists; repeated images carry a rep_ prefix."""
    for ses, names in runs.items():
        folder = root / "BOLD5000_Stimuli/Stimuli_Presentation_Lists/CSI1" / f"CSI1_sess{ses:02d}"
        folder.mkdir(parents=True, exist_ok=True)
        (folder / f"CSI1_sess{ses:02d}_run01.txt").write_text("\n".join(names) + "\n")


def test_bold5000_reads_one_variant_of_several(tmp_path):
    rng = np.random.default_rng(5)
    write_lists(tmp_path, {1: ["a.jpg", "rep_r.jpg"], 2: ["b.jpg", "rep_r.jpg"]})
    typed = [
        write_bold5000_session(tmp_path, "TYPED-FITHRF-GLMDENOISE-RR", s, 2, rng) for s in (1, 2)
    ]
    typeb = [write_bold5000_session(tmp_path, "TYBEB-FITHRF", s, 2, rng) for s in (1, 2)]
    write_bold5000_session(tmp_path, "TYPEC-FITHRF-GLMDENOISE", 1, 2, rng)
    betas = read_vision_betas(tmp_path, "CSI1", zscore_sessions=False)
    assert betas.n_trials == 4
    np.testing.assert_allclose(betas.betas, np.concatenate(typed, 3).reshape(-1, 4).T)
    assert list(betas.image_ids) == ["a", "r", "b", "r"]
    assert list(betas.split) == ["train", "test", "train", "test"]
    other = read_vision_betas(
        tmp_path, "CSI1", zscore_sessions=False, options={"variant": "TYPEB-FITHRF"}
    )
    np.testing.assert_allclose(other.betas, np.concatenate(typeb, 3).reshape(-1, 4).T)
    with pytest.raises(NeuroalignError, match=r"option 'varient'.*Did you mean 'variant'"):
        read_vision_betas(tmp_path, "CSI1", options={"varient": "TYPEB-FITHRF"})
    with pytest.raises(NeuroalignError, match=r"variants here: \['TYBEB-FITHRF'"):
        read_vision_betas(tmp_path, "CSI1", options={"variant": "TYPEA-ASSUMEHRF"})


def test_bold5000_two_files_of_one_session_is_an_error(tmp_path):
    rng = np.random.default_rng(6)
    write_lists(tmp_path, {1: ["a.jpg", "b.jpg"]})
    write_bold5000_session(tmp_path, "TYPED-FITHRF-GLMDENOISE-RR", 1, 2, rng)
    write_bold5000_session(tmp_path, "TYPED-FITHRF-GLMDENOISE-RR", 1, 2, rng, folder="copy")
    with pytest.raises(NeuroalignError, match=r"session 1 has 2 TYPED-FITHRF-GLMDENOISE-RR") as err:
        read_vision_betas(tmp_path, "CSI1")
    _one_line(err)


def test_bold5000_mask_gives_voxels_and_affine(tmp_path):
    rng = np.random.default_rng(7)
    write_lists(tmp_path, {1: ["a.jpg", "b.jpg"]})
    data = write_bold5000_session(tmp_path, "TYPED-FITHRF-GLMDENOISE-RR", 1, 2, rng)
    mask = np.zeros(SHAPE, np.uint8)
    mask[:2] = 1
    mask_affine = np.diag([2.0, 2.0, 2.0, 1.0])
    mask_affine[:3, 3] = [-10.0, 5.0, 3.0]
    nib.save(nib.Nifti1Image(mask, mask_affine), tmp_path / "CSI1_brainmask.nii.gz")
    betas = read_vision_betas(tmp_path, "CSI1", zscore_sessions=False)
    np.testing.assert_allclose(betas.mask.affine, mask_affine)
    np.testing.assert_allclose(betas.betas, data[mask != 0].T)
    nib.save(
        nib.Nifti1Image(np.ones((4, 3, 3), np.uint8), AFFINE), tmp_path / "CSI1_brainmask.nii.gz"
    )
    with pytest.raises(NeuroalignError, match=r"brainmask\.nii\.gz: mask grid \(4, 3, 3\)") as err:
        read_vision_betas(tmp_path, "CSI1")
    _one_line(err)


def test_bold5000_voxels_nonzero_in_any_session(tmp_path):
    rng = np.random.default_rng(8)
    write_lists(tmp_path, {1: ["a.jpg"], 2: ["b.jpg"]})
    first = rng.standard_normal((*SHAPE, 1)).astype(np.float32) + 1
    first[0, 0, 0] = 0  # voxel off in session 1 only
    second = rng.standard_normal((*SHAPE, 1)).astype(np.float32) + 1
    second[3, 2, 1] = 0  # and one off in session 2 only
    write_bold5000_session(tmp_path, "TYPED-FITHRF-GLMDENOISE-RR", 1, 1, rng, data=first)
    write_bold5000_session(tmp_path, "TYPED-FITHRF-GLMDENOISE-RR", 2, 1, rng, data=second)
    betas = read_vision_betas(tmp_path, "CSI1", zscore_sessions=False)
    assert betas.n_voxels == 24
    np.testing.assert_allclose(betas.betas, np.concatenate([first, second], 3).reshape(-1, 2).T)


def test_bold5000_session_grids_must_match(tmp_path):
    rng = np.random.default_rng(9)
    write_lists(tmp_path, {1: ["a.jpg"], 2: ["b.jpg"]})
    write_bold5000_session(tmp_path, "TYPED-FITHRF-GLMDENOISE-RR", 1, 1, rng)
    write_bold5000_session(tmp_path, "TYPED-FITHRF-GLMDENOISE-RR", 2, 1, rng, shape=(4, 3, 3))
    with pytest.raises(NeuroalignError, match=r"ses-02\.nii\.gz: grid \(4, 3, 3\) differs") as err:
        read_vision_betas(tmp_path, "CSI1")
    _one_line(err)


def test_bold5000_run_list_without_run_number_is_an_error(tmp_path):
    rng = np.random.default_rng(10)
    write_lists(tmp_path, {1: ["a.jpg"]})
    write_bold5000_session(tmp_path, "TYPED-FITHRF-GLMDENOISE-RR", 1, 1, rng)
    stray = tmp_path / "BOLD5000_Stimuli/Stimuli_Presentation_Lists/CSI1/CSI1_sess01/runs.txt"
    stray.write_text("a.jpg\n")
    with pytest.raises(NeuroalignError, match=r"runs\.txt: no run number") as err:
        read_vision_betas(tmp_path, "CSI1")
    _one_line(err)


def test_bold5000_imgnames_drop_rep_prefix(tmp_path):
    rng = np.random.default_rng(11)
    write_bold5000_session(tmp_path, "TYPED-FITHRF-GLMDENOISE-RR", 1, 3, rng)
    (tmp_path / "CSI1_imgnames.txt").write_text("rep_x.jpg\ny.jpg\nx.jpg\n")
    betas = read_vision_betas(tmp_path, "CSI1", zscore_sessions=False)
    assert list(betas.image_ids) == ["x", "y", "x"] and list(betas.repeat) == [0, 0, 1]


def test_bold5000_imgnames_with_a_session_missing_is_an_error(tmp_path):
    rng = np.random.default_rng(15)
    write_bold5000_session(tmp_path, "TYPED-FITHRF-GLMDENOISE-RR", 1, 1, rng)
    write_bold5000_session(tmp_path, "TYPED-FITHRF-GLMDENOISE-RR", 3, 1, rng)
    (tmp_path / "CSI1_imgnames.txt").write_text("a.jpg\nb.jpg\nc.jpg\n")
    with pytest.raises(NeuroalignError, match=r"imgnames\.txt: .* session\(s\) \[2\] are missing"):
        read_vision_betas(tmp_path, "CSI1")


# ------------------------------------------------------------------------------------------
# NOD


def write_nod_run(root: Path, names: list[str] | None, n: int, rng) -> Path:
    stem = "ses-imagenet01_task-imagenet_run-1"
    folder = root / "derivatives/ciftify/sub-01/results" / stem
    folder.mkdir(parents=True, exist_ok=True)
    data = rng.standard_normal((n, 5)).astype(np.float32)
    axes = nib.cifti2.BrainModelAxis.from_mask(np.ones((5, 1, 1)), affine=np.eye(4))
    scalar = nib.cifti2.ScalarAxis(names if names is not None else [""] * n)
    path = folder / f"{stem}_beta.dscalar.nii"
    nib.save(nib.Cifti2Image(data, header=(scalar, axes)), path)
    return path


def test_nod_names_from_map_axis_not_label_file(tmp_path):
    rng = np.random.default_rng(12)
    path = write_nod_run(tmp_path, ["n01_1.JPEG", "n02_2.JPEG"], 2, rng)
    label = path.with_name(path.name.replace("_beta.dscalar.nii", "_label.txt"))
    label.write_text("wrong.JPEG\n")
    betas = read_vision_betas(tmp_path, "01", zscore_sessions=False)
    assert list(betas.image_ids) == ["n01_1", "n02_2"]


def test_nod_label_file_without_separators_is_the_fallback(tmp_path):
    rng = np.random.default_rng(13)
    path = write_nod_run(tmp_path, None, 3, rng)
    label = path.with_name(path.name.replace("_beta.dscalar.nii", "_label.txt"))
    label.write_text("n01_1.JPEGn02_2.JPEGn03_3.JPEG")  # as written by writelines
    betas = read_vision_betas(tmp_path, "01", zscore_sessions=False)
    assert list(betas.image_ids) == ["n01_1", "n02_2", "n03_3"]
    label.write_text("n01_1.JPEGn02_2.JPEG")
    with pytest.raises(NeuroalignError, match=r"label\.txt: 2 image names but .* has 3 maps"):
        read_vision_betas(tmp_path, "01")


def test_nod_corrupt_dscalar_names_the_file(tmp_path):
    path = write_nod_run(tmp_path, ["n01_1.JPEG"], 1, np.random.default_rng(14))
    path.write_bytes(b"not a cifti file")
    with pytest.raises(NeuroalignError, match=r"beta\.dscalar\.nii: cannot read the betas") as err:
        read_vision_betas(tmp_path, "01")
    _one_line(err)

"""THINGS-fMRI single-trial betas (volumetric release) and the simulated set in its layout.

Layout read (per subject ``XX``; the session and run labels are whatever the files carry)::

    betas_vol/sub-XX/ses-<ses>/sub-XX_ses-<ses>_run-<run>_betas.nii.gz       4-D, x y z trial
    betas_vol/sub-XX/ses-<ses>/sub-XX_ses-<ses>_run-<run>_conditions.tsv     one row per trial
    betas_vol/sub-XX/sub-XX_brainmask.nii.gz       (optional; else voxels nonzero in any run)
    betas_vol/sub-XX/rois/sub-XX_<roi>.nii.gz     (optional ROI masks, any number)
    images.tsv                                    (optional image table, see read_image_table)

The conditions table names each trial's image in ``image_filename`` or ``file_path`` (a path
such as ``images/aardvark/aardvark_01b.jpg``, relative to the dataset folder) and its type in
``trial_type``: ``test`` (the repeated test images) -> split test, ``catch`` -> dropped,
anything else -> train. Unverified offline: the released file names, the brain-mask and ROI
locations; the per-run betas + conditions pairing follows the THINGS-data paper (Hebart et
al. 2023) and its figshare release. The simulated dataset ``sim_vision`` is written in this
layout.
"""

from __future__ import annotations

import re
from pathlib import Path

import nibabel as nib
import numpy as np
import pandas as pd

from neuroalign._check import NeuroalignError
from neuroalign.data.vision._betas import VisionBetas, repeat_index

BETAS_DIR = "betas_vol"
IMAGE_TABLE = "images.tsv"
_RUN = re.compile(r"sub-(?P<sub>[^_]+)_ses-(?P<ses>[^_]+)_run-(?P<run>[^_]+)_betas\.nii(\.gz)?$")
_IMAGE_COLUMNS = ("image_filename", "file_path", "image")


def is_things(root: Path) -> bool:
    """Whether ``root`` looks like the THINGS-fMRI volumetric layout (betas or image table)."""
    return (root / BETAS_DIR).is_dir() or (root / IMAGE_TABLE).is_file()


def run_files(root: Path, subject: str) -> list[tuple[Path, Path]]:
    """Return (betas, conditions) file pairs of one subject, sorted by session then run."""
    folder = root / BETAS_DIR / f"sub-{subject}"
    if not folder.is_dir():
        found = sorted(p.name for p in (root / BETAS_DIR).glob("sub-*"))
        raise NeuroalignError(
            f"{folder}: no such subject folder; subjects here are {found or 'none'} (pass the "
            "label without 'sub-')."
        )
    pairs = []
    for betas in sorted(folder.glob("ses-*/*_betas.nii*")):
        if not _RUN.search(betas.name):
            continue
        stem = re.sub(r"_betas\.nii(\.gz)?$", "", betas.name)
        cond = betas.with_name(stem + "_conditions.tsv")
        if not cond.is_file():
            raise NeuroalignError(
                f"{betas}: no conditions file {cond.name} beside it; each run's betas need their "
                "trial table (image_filename, trial_type)."
            )
        pairs.append((betas, cond))
    if not pairs:
        raise NeuroalignError(
            f"{folder}: no ses-*/sub-{subject}_ses-*_run-*_betas.nii.gz files; check the "
            "dataset folder (THINGS-fMRI betas_vol layout)."
        )
    return pairs


def _image_column(frame: pd.DataFrame, path: Path) -> str:
    for name in _IMAGE_COLUMNS:
        if name in frame.columns:
            return name
    raise NeuroalignError(
        f"{path}: field 'image_filename' missing (columns: {list(frame.columns)}); add the image "
        "each trial showed (image_filename or file_path)."
    )


def image_id_of(path: str) -> str:
    """Return an image's id: its file name without the extension."""
    return Path(str(path)).stem


def read_things(root: Path, subject: str) -> VisionBetas:
    """Read one subject's single-trial betas in the THINGS-fMRI volumetric layout."""
    pairs = run_files(root, subject)
    folder = root / BETAS_DIR / f"sub-{subject}"
    first = nib.load(pairs[0][0])
    mask_path = folder / f"sub-{subject}_brainmask.nii.gz"
    rows, ids, sessions, splits, volumes = [], [], [], [], []
    session_numbers: dict[str, int] = {}
    for betas_path, cond_path in pairs:
        img = nib.load(betas_path)
        if img.shape[:3] != first.shape[:3] or not np.allclose(img.affine, first.affine):
            raise NeuroalignError(
                f"{betas_path}: grid {img.shape[:3]} differs from the first run's "
                f"{first.shape[:3]}; all runs of a subject must share one grid."
            )
        data = np.asarray(img.dataobj, dtype=np.float32)
        if data.ndim == 3:
            data = data[..., None]
        cond = pd.read_csv(cond_path, sep="\t")
        if len(cond) != data.shape[3]:
            raise NeuroalignError(
                f"{cond_path}: {len(cond)} trials but {betas_path.name} has {data.shape[3]} "
                "volumes; the conditions table needs one row per beta volume."
            )
        column = _image_column(cond, cond_path)
        trial_type = (
            cond["trial_type"].astype(str) if "trial_type" in cond else pd.Series("exp", cond.index)
        )
        keep = (trial_type != "catch").to_numpy()
        ses = _RUN.search(betas_path.name)["ses"]
        number = session_numbers.setdefault(ses, len(session_numbers) + 1)
        volumes.append(data[..., keep])
        ids.extend(image_id_of(p) for p in cond[column][keep])
        sessions.extend([number] * int(keep.sum()))
        splits.extend(np.where(trial_type[keep] == "test", "test", "train"))
        rows.append(betas_path)
    stack = np.concatenate(volumes, axis=3)
    if mask_path.is_file():
        mask_img = nib.load(mask_path)
        inside = np.asanyarray(mask_img.dataobj) != 0
        if inside.shape != stack.shape[:3]:
            raise NeuroalignError(
                f"{mask_path}: mask grid {inside.shape} differs from the betas' "
                f"{stack.shape[:3]}; use the mask of this subject's beta space."
            )
    else:
        inside = np.any(stack != 0, axis=3)
    mask = nib.Nifti1Image(inside.astype(np.uint8), first.affine)
    rois = {}
    for roi_path in sorted((folder / "rois").glob(f"sub-{subject}_*.nii*")):
        name = re.sub(r"\.nii(\.gz)?$", "", roi_path.name).removeprefix(f"sub-{subject}_")
        roi = np.asanyarray(nib.load(roi_path).dataobj) != 0
        if roi.shape != inside.shape:
            raise NeuroalignError(
                f"{roi_path}: ROI grid {roi.shape} differs from the betas' {inside.shape}; "
                "resample it to the beta space."
            )
        rois[name] = roi[inside]
    ids_arr = np.array(ids, dtype=str)
    return VisionBetas(
        betas=stack[inside].T,
        image_ids=ids_arr,
        repeat=repeat_index(ids_arr),
        session=np.array(sessions),
        split=np.array(splits, dtype=str),
        rois=rois,
        mask=mask,
        dataset=root.name,
        subject=subject,
    )


def things_image_table(root: Path) -> pd.DataFrame:
    """Return the image table: ``images.tsv`` if present, else built from the conditions files.

    Built from conditions: one row per distinct image, ``image`` its path as the table gives
    it, ``category`` the name of the folder holding it (the THINGS concept).
    """
    table_path = root / IMAGE_TABLE
    if table_path.is_file():
        table = pd.read_csv(table_path, sep="\t", keep_default_na=False)
        for name in ("image_id", "image"):
            if name not in table.columns:
                raise NeuroalignError(
                    f"{table_path}: field {name!r} missing (columns: {list(table.columns)}); the "
                    "image table needs image_id and image (path relative to the dataset folder)."
                )
        table["image_id"] = table["image_id"].astype(str)
        return table
    seen: dict[str, str] = {}
    for cond in sorted((root / BETAS_DIR).glob("sub-*/ses-*/*_conditions.tsv")):
        frame = pd.read_csv(cond, sep="\t")
        column = _image_column(frame, cond)
        for path in frame[column].astype(str):
            seen.setdefault(image_id_of(path), path)
    if not seen:
        raise NeuroalignError(
            f"{root}: no {IMAGE_TABLE} and no conditions files under {BETAS_DIR}/; nothing lists "
            "the images."
        )
    return pd.DataFrame(
        {
            "image_id": list(seen),
            "image": list(seen.values()),
            "category": [Path(p).parent.name for p in seen.values()],
        }
    )

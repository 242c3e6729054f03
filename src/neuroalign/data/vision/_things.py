"""THINGS-fMRI single-trial betas (volumetric release) and the simulated set in its layout.

Layout read (per subject ``XX``; the session and run labels are whatever the files carry)::

    <betas>/sub-XX/ses-<ses>/sub-XX_ses-<ses>_run-<run>_betas.nii.gz     4-D, x y z trial
    <betas>/sub-XX/ses-<ses>/sub-XX_ses-<ses>_run-<run>_conditions.tsv   one row per trial
    brainmasks/sub-XX_space-T1w_brainmask.nii.gz                         optional brain mask
    <betas>/sub-XX/sub-XX_brainmask.nii.gz                               (or this one)
    rois/category_localizer/sub-XX/<type>_parcels/sub-XX_<l|r><ROI>.nii.gz   optional ROIs
    <betas>/sub-XX/rois/sub-XX_<roi>.nii.gz                              (and these)
    [rawdata/]sub-XX/ses-<ses>/func/sub-XX_ses-<ses>_task-things_run-<run>_events.tsv
    images.tsv                                  optional image table, see read_image_table

``<betas>`` is the first of ``betas_vol``, ``betas_vol/scalematched``, ``derivatives/betas_vol``
and ``derivatives/betas_vol/scalematched`` that holds the subject; ``brainmasks/``, ``rois/``
and the BIDS events are looked for in the dataset folder and (masks, ROIs) in
``derivatives/``. Without a brain mask the voxels are those nonzero in any run.

The release's conditions table has an unnamed index column and ``image_filename``, the image
of each beta volume as a path inside the THINGS image folder (``dog/dog_12s.jpg``); catch
trials (``catch008.jpg``: a name starting with ``catch`` or no concept folder) are dropped.
The test split is the images of trial type ``test``, taken from a ``trial_type`` column of the
conditions table when it has one, else from the run's BIDS events (``file_path``,
``trial_type``), else the images shown in every session read (the 100 test images are shown
in each of the 12 sessions). ``file_path`` is accepted for ``image_filename``. The simulated
dataset ``sim_vision`` is written in this layout (with a ``trial_type`` column).
"""

from __future__ import annotations

import re
import zlib
from pathlib import Path

import nibabel as nib
import numpy as np
import pandas as pd
from nibabel.filebasedimages import ImageFileError

from neuroalign._check import NeuroalignError
from neuroalign.data.vision._betas import VisionBetas, repeat_index

BETAS_DIR = "betas_vol"
BETAS_DIRS = (
    "betas_vol",
    "betas_vol/scalematched",
    "derivatives/betas_vol",
    "derivatives/betas_vol/scalematched",
)
IMAGE_TABLE = "images.tsv"
_RUN = re.compile(r"sub-(?P<sub>[^_]+)_ses-(?P<ses>[^_]+)_run-(?P<run>[^_]+)_betas\.nii(\.gz)?$")
_IMAGE_COLUMNS = ("image_filename", "file_path", "image")
READ_ERRORS = (OSError, EOFError, ValueError, zlib.error, ImageFileError)


def read_nifti(
    path: Path, field: str, dtype: type | None = None
) -> tuple[nib.Nifti1Image, np.ndarray]:
    """Return a NIfTI or CIFTI file's image and its data array.

    Parameters
    ----------
    path : Path
        The file.
    field : str
        What the file holds (``"betas"``, ``"brain mask"``, ...), named in the error.
    dtype : type, optional
        Data type of the array; None keeps the file's (scaling applied).

    Returns
    -------
    img, data : nibabel image, ndarray

    Raises
    ------
    NeuroalignError
        If the file cannot be read (truncated, corrupt, not an image), naming file and field.
    """
    try:
        img = nib.load(path)
        data = np.asarray(img.dataobj, dtype=dtype) if dtype else np.asanyarray(img.dataobj)
    except READ_ERRORS as err:
        reason = " ".join(f"{type(err).__name__}: {err}".split())
        raise NeuroalignError(
            f"{path}: cannot read the {field} ({reason}); fetch the file again."
        ) from err
    return img, data


def is_things(root: Path) -> bool:
    """Whether ``root`` looks like the THINGS-fMRI volumetric layout (betas or image table)."""
    return any((root / d).is_dir() for d in BETAS_DIRS) or (root / IMAGE_TABLE).is_file()


def subject_dir(root: Path, subject: str) -> Path:
    """Return the folder of one subject's betas: the first of `BETAS_DIRS` that holds it."""
    for name in BETAS_DIRS:
        folder = root / name / f"sub-{subject}"
        if folder.is_dir():
            return folder
    found = sorted({p.name for d in BETAS_DIRS for p in (root / d).glob("sub-*") if p.is_dir()})
    raise NeuroalignError(
        f"{root / BETAS_DIR / f'sub-{subject}'}: no such subject folder (also looked in "
        f"{', '.join(BETAS_DIRS[1:])}); subjects here are {found or 'none'} (pass the label "
        "without 'sub-')."
    )


def run_files(root: Path, subject: str) -> list[tuple[Path, Path]]:
    """Return (betas, conditions) file pairs of one subject, sorted by session then run."""
    folder = subject_dir(root, subject)
    pairs = []
    for betas in sorted(folder.glob("ses-*/*_betas.nii*")):
        if not _RUN.search(betas.name):
            continue
        stem = re.sub(r"_betas\.nii(\.gz)?$", "", betas.name)
        cond = betas.with_name(stem + "_conditions.tsv")
        if not cond.is_file():
            raise NeuroalignError(
                f"{betas}: no conditions file {cond.name} beside it; each run's betas need their "
                "trial table (image_filename)."
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


def is_catch(path: str) -> bool:
    """Whether an image path is a THINGS catch image (name ``catch*`` or no concept folder)."""
    p = Path(str(path))
    return p.name.lower().startswith("catch") or not p.parent.name


def catch_trials(names: list[str], types: list[str | None]) -> np.ndarray:
    """Return which trials are catch trials.

    A trial of known type is one if its type is ``catch`` or its file name starts with
    ``catch``; a trial of unknown type if `is_catch` says so of its image path.
    """
    return np.array(
        [
            is_catch(n) if t is None else t == "catch" or Path(n).name.lower().startswith("catch")
            for n, t in zip(names, types, strict=True)
        ],
        dtype=bool,
    )


def _read_conditions(path: Path) -> pd.DataFrame:
    try:
        return pd.read_csv(path, sep="\t")
    except (OSError, ValueError, pd.errors.ParserError) as err:
        reason = " ".join(str(err).split())
        raise NeuroalignError(
            f"{path}: not a readable tab-separated conditions table ({reason}); fetch it again."
        ) from err


def events_file(root: Path, subject: str, ses: str, run: str) -> Path | None:
    """Return the BIDS events file of one run (dataset folder or ``rawdata/``), or None."""
    pattern = f"sub-{subject}_ses-{ses}_task-*_run-{run}_events.tsv"
    for base in (root, root / "rawdata"):
        found = sorted((base / f"sub-{subject}" / f"ses-{ses}" / "func").glob(pattern))
        if found:
            return found[0]
    return None


def _types_from_events(path: Path, names: list[str]) -> list[str]:
    events = _read_conditions(path)
    for column in ("file_path", "trial_type"):
        if column not in events.columns:
            raise NeuroalignError(
                f"{path}: field {column!r} missing (columns: {list(events.columns)}); the events "
                "file must give each trial's file_path and trial_type."
            )
    lookup = dict(
        zip(events["file_path"].astype(str), events["trial_type"].astype(str), strict=True)
    )
    missing = [n for n in names if n not in lookup]
    if missing:
        raise NeuroalignError(
            f"{path}: field 'file_path' lacks {missing[:3]} of the run's conditions table; use "
            "the events file of the same run."
        )
    return [lookup[n] for n in names]


def trial_types(cond: pd.DataFrame, names: list[str], events: Path | None) -> list[str | None]:
    """Return each trial's type: the ``trial_type`` column, else the events file's, else None."""
    if "trial_type" in cond.columns:
        return cond["trial_type"].astype(str).tolist()
    if events is not None:
        return _types_from_events(events, names)
    return [None] * len(names)


def split_of(
    image_ids: np.ndarray, sessions: np.ndarray, types: list[str | None], where: Path
) -> np.ndarray:
    """Return ``test``/``train`` per trial; trials of unknown type: test if seen in every session.

    Raises
    ------
    NeuroalignError
        If some trial types are unknown and only one session was read.
    """
    unknown = np.array([t is None for t in types], dtype=bool)
    split = np.where(np.array([t == "test" for t in types]), "test", "train")
    if not unknown.any():
        return split
    all_sessions = np.unique(sessions)
    if all_sessions.size < 2:
        raise NeuroalignError(
            f"{where}: no trial_type (conditions column or BIDS events) and one session only; "
            "the test images are those shown in every session, so read two or more sessions or "
            "add the events files."
        )
    seen: dict[str, set] = {}
    for image, ses in zip(image_ids, sessions, strict=True):
        seen.setdefault(image, set()).add(ses)
    everywhere = np.array([len(seen[i]) == all_sessions.size for i in image_ids])
    split[unknown] = np.where(everywhere[unknown], "test", "train")
    return split


def read_betas(
    path: Path, first: nib.Nifti1Image | None, unit: str, *, one_trial: bool = False
) -> tuple[nib.Nifti1Image, np.ndarray]:
    """Read a 4-D betas file (x, y, z, trial) on the grid of ``first`` (the subject's first
    ``unit``, a run or a session); ``one_trial`` takes a 3-D file as one trial.

    Raises
    ------
    NeuroalignError
        If the file is unreadable, not 4-D, or on another grid than ``first``.
    """
    img, data = read_nifti(path, "betas", np.float32)
    if one_trial and data.ndim == 3:
        data = data[..., None]
    if data.ndim != 4:
        raise NeuroalignError(
            f"{path}: betas have shape {data.shape}; expected 4-D (x, y, z, trial)."
        )
    if first is not None and (
        img.shape[:3] != first.shape[:3] or not np.allclose(img.affine, first.affine)
    ):
        raise NeuroalignError(
            f"{path}: grid {img.shape[:3]} differs from the first {unit}'s "
            f"{first.shape[:3]} (or its affine does); all {unit}s of a subject must share "
            "one grid."
        )
    return img, data


def mask_file(root: Path, subject: str, folder: Path) -> Path | None:
    """Return the subject's brain mask file, or None."""
    candidates = [folder / f"sub-{subject}_brainmask.nii.gz"]
    for base in (root, root / "derivatives"):
        candidates.append(base / "brainmasks" / f"sub-{subject}_space-T1w_brainmask.nii.gz")
    return next((p for p in candidates if p.is_file()), None)


def roi_files(root: Path, subject: str, folder: Path) -> list[Path]:
    """Return the subject's ROI mask files (beside the betas and under ``rois/``)."""
    found = sorted((folder / "rois").glob(f"sub-{subject}_*.nii*"))
    for base in (root, root / "derivatives"):
        loc = base / "rois" / "category_localizer" / f"sub-{subject}"
        found += sorted(loc.glob(f"*_parcels/sub-{subject}_*.nii*"))
    return found


def _rois(paths: list[Path], subject: str, inside: np.ndarray) -> dict[str, np.ndarray]:
    rois: dict[str, np.ndarray] = {}
    for roi_path in paths:
        name = re.sub(r"\.nii(\.gz)?$", "", roi_path.name).removeprefix(f"sub-{subject}_")
        if name in rois:
            raise NeuroalignError(
                f"{roi_path}: ROI {name!r} is also given by another file; keep one of them."
            )
        roi = read_nifti(roi_path, "ROI mask")[1] != 0
        if roi.shape != inside.shape:
            raise NeuroalignError(
                f"{roi_path}: ROI grid {roi.shape} differs from the betas' {inside.shape}; "
                "resample it to the beta space."
            )
        rois[name] = roi[inside]
    return rois


def read_things(root: Path, subject: str) -> VisionBetas:
    """Read one subject's single-trial betas in the THINGS-fMRI volumetric layout.

    Parameters
    ----------
    root : Path
        The dataset folder.
    subject : str
        Subject label without ``sub-`` (``"01"``).

    Returns
    -------
    betas : VisionBetas
        Catch trials dropped; ``session`` numbers the sessions present 1, 2, ... in order.
    """
    pairs = run_files(root, subject)
    folder = subject_dir(root, subject)
    first = None
    ids, sessions, types, volumes = [], [], [], []
    session_numbers: dict[str, int] = {}
    for betas_path, cond_path in pairs:
        img, data = read_betas(betas_path, first, "run", one_trial=True)
        if first is None:
            first = img
        cond = _read_conditions(cond_path)
        if len(cond) != data.shape[3]:
            raise NeuroalignError(
                f"{cond_path}: {len(cond)} trials but {betas_path.name} has {data.shape[3]} "
                "volumes; the conditions table needs one row per beta volume."
            )
        names = cond[_image_column(cond, cond_path)].astype(str).tolist()
        match = _RUN.search(betas_path.name)
        run_types = trial_types(cond, names, events_file(root, subject, match["ses"], match["run"]))
        keep = ~catch_trials(names, run_types)
        number = session_numbers.setdefault(match["ses"], len(session_numbers) + 1)
        volumes.append(data[..., keep])
        ids.extend(image_id_of(n) for n, k in zip(names, keep, strict=True) if k)
        types.extend(t for t, k in zip(run_types, keep, strict=True) if k)
        sessions.extend([number] * int(keep.sum()))
    stack = np.concatenate(volumes, axis=3)
    mask_path = mask_file(root, subject, folder)
    if mask_path is not None:
        inside = read_nifti(mask_path, "brain mask")[1] != 0
        if inside.shape != stack.shape[:3]:
            raise NeuroalignError(
                f"{mask_path}: mask grid {inside.shape} differs from the betas' "
                f"{stack.shape[:3]}; use the mask of this subject's beta space."
            )
    else:
        inside = np.any(stack != 0, axis=3)
    ids_arr = np.array(ids, dtype=str)
    session_arr = np.array(sessions, dtype=np.int64)
    return VisionBetas(
        betas=stack[inside].T,
        image_ids=ids_arr,
        repeat=repeat_index(ids_arr),
        session=session_arr,
        split=split_of(ids_arr, session_arr, types, folder),
        rois=_rois(roi_files(root, subject, folder), subject, inside),
        mask=nib.Nifti1Image(inside.astype(np.uint8), first.affine),
        dataset=root.name,
        subject=subject,
    )


def things_image_table(root: Path) -> pd.DataFrame:
    """Return the image table: ``images.tsv`` if present, else built from the conditions files.

    Built from conditions: one row per distinct image (catch images left out), ``image`` its
    path as the table gives it, ``category`` the name of the folder holding it (the THINGS
    concept).
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
    conditions = sorted(
        {p for d in BETAS_DIRS for p in (root / d).glob("sub-*/ses-*/*_conditions.tsv")}
    )
    for cond in conditions:
        frame = _read_conditions(cond)
        column = _image_column(frame, cond)
        names = frame[column].astype(str).tolist()
        types = trial_types(frame, names, None)
        for path, catch in zip(names, catch_trials(names, types), strict=True):
            if not catch:
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

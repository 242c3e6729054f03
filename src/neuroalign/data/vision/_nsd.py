"""Natural Scenes Dataset (NSD): single-trial GLMsingle betas, the experimental design, ROIs.

Files read (subject ``N`` as ``subj0N``)::

    nsddata/experiments/nsd/nsd_expdesign.mat            masterordering, subjectim, sharedix
    nsddata/experiments/nsd/nsd_stim_info_merged.csv     image table (optional)
    nsddata_betas/ppdata/subj0N/func1pt8mm/betas_fithrf_GLMdenoise_RR/betas_session<NN>.hdf5
        (or .nii.gz)  int16, 750 trials per session; divided by 300 -> percent signal change
    nsddata/ppdata/subj0N/func1pt8mm/roi/<name>.nii.gz   ROIs (nsdgeneral: 1 in, 0 out, -1 off)
    nsddata/ppdata/subj0N/func1pt8mm/brainmask.nii.gz    (optional)

Trial ``t`` (0-based over the whole experiment; session ``t // 750 + 1``) showed image
``subjectim[N-1, masterordering[t]-1]`` (1-based, 1..73000); ``image_id`` is the 0-based
``nsdId`` written with five digits (``"02950"``), as ``nsd_stim_info_merged.csv`` numbers
them. Images in ``sharedix`` (the shared1000 seen by every subject) are the test split. ``repeat``
counts a trial's earlier showings of its image over the whole ``masterordering``, so it is the
same whichever sessions are present. ROI files ``lh.<name>``/``rh.<name>`` take their label
names from ``<name>.mgz.ctab``.
Voxels: the ``nsdgeneral`` ROI when present (the NSD papers' visual mask), else the brain
mask, else every voxel nonzero in the first session.

Unverified offline: the HDF5 files' dataset name (``betas``) and axis order (trial, z, y, x,
the NIfTI's reversed, as MATLAB writes HDF5); every other detail follows the NSD data manual.
"""

from __future__ import annotations

import re
from pathlib import Path

import nibabel as nib
import numpy as np
import pandas as pd

from neuroalign._check import NeuroalignError
from neuroalign.data.vision._betas import VisionBetas, repeat_index
from neuroalign.data.vision._things import READ_ERRORS, read_nifti

EXPDESIGN = Path("nsddata/experiments/nsd/nsd_expdesign.mat")
STIM_INFO = Path("nsddata/experiments/nsd/nsd_stim_info_merged.csv")
STIM_BRICK = Path("nsddata_stimuli/stimuli/nsd/nsd_stimuli.hdf5")
IMAGE_DIR = Path("nsddata_stimuli/stimuli/nsd/images")
BETA_SCALE = 300.0
TRIALS_PER_SESSION = 750
BETA_VERSION = "betas_fithrf_GLMdenoise_RR"


def is_nsd(root: Path) -> bool:
    """Whether ``root`` holds NSD's experimental design file."""
    return (root / EXPDESIGN).is_file()


def subject_folder(subject: str) -> str:
    """Return NSD's folder name of a subject (``"1"``, ``"01"``, ``"subj01"`` -> ``"subj01"``)."""
    match = re.fullmatch(r"(?:subj|sub-)?0*(\d+)", str(subject))
    if not match:
        raise NeuroalignError(
            f"NSD subject {subject!r}: use the number (1..8) or the folder name subj01..subj08."
        )
    return f"subj{int(match[1]):02d}"


def read_expdesign(root: Path) -> dict[str, np.ndarray]:
    """Return ``masterordering``, ``subjectim`` and ``sharedix`` of nsd_expdesign.mat (1-based)."""
    from scipy.io import loadmat

    path = root / EXPDESIGN
    try:
        mat = loadmat(path)
    except (OSError, ValueError) as err:
        raise NeuroalignError(
            f"{path}: not a readable MATLAB file ({err}); fetch it again."
        ) from err
    out = {}
    for name in ("masterordering", "subjectim", "sharedix"):
        if name not in mat:
            raise NeuroalignError(
                f"{path}: field {name!r} missing; this is not NSD's nsd_expdesign.mat (fetch it "
                "again)."
            )
        out[name] = np.asarray(mat[name]).astype(np.int64)
    out["masterordering"] = out["masterordering"].ravel()
    out["sharedix"] = out["sharedix"].ravel()
    out["subjectim"] = np.atleast_2d(out["subjectim"])
    return out


def _session_files(folder: Path) -> list[tuple[int, Path]]:
    found: dict[int, Path] = {}
    for path in sorted(folder.glob("betas_session*")):
        match = re.fullmatch(r"betas_session(\d+)\.(hdf5|nii\.gz|nii)", path.name)
        if match:
            found.setdefault(int(match[1]), path)
    return sorted(found.items())


def _read_hdf5_betas(path: Path) -> np.ndarray:
    import h5py

    try:
        with h5py.File(path, "r") as f:
            if "betas" not in f:
                raise NeuroalignError(
                    f"{path}: field 'betas' missing (datasets: {list(f)}); fetch the file again."
                )
            if f["betas"].ndim != 4:
                raise NeuroalignError(
                    f"{path}: field 'betas' has shape {f['betas'].shape}; expected 4-D (trial, "
                    "z, y, x); fetch the file again."
                )
            return np.asarray(f["betas"]).transpose(3, 2, 1, 0)
    except OSError as err:
        reason = " ".join(str(err).split())
        raise NeuroalignError(
            f"{path}: field 'betas' unreadable, not an HDF5 file ({reason}); fetch it again."
        ) from err


def _load_session(path: Path) -> np.ndarray:
    """Return one session's betas as float32 (x, y, z, trial) in percent signal change."""
    if path.suffix == ".hdf5":
        data = _read_hdf5_betas(path)
    else:
        data = read_nifti(path, "betas")[1]
        if data.ndim != 4:
            raise NeuroalignError(
                f"{path}: betas have shape {data.shape}; expected 4-D (x, y, z, trial)."
            )
    return data.astype(np.float32) / BETA_SCALE


def _nifti_header(path: Path) -> nib.Nifti1Image:
    try:
        return nib.load(path)
    except READ_ERRORS as err:
        reason = " ".join(str(err).split())
        raise NeuroalignError(f"{path}: cannot read the betas ({reason}); fetch it again.") from err


def _reference(
    folder: Path, roi_dir: Path, sessions: list[tuple[int, Path]]
) -> tuple[nib.Nifti1Image, np.ndarray | None]:
    """Return the image that places the betas in space and the voxel mask it gives (or None)."""
    for candidate in (roi_dir / "nsdgeneral.nii.gz", roi_dir.parent / "brainmask.nii.gz"):
        if candidate.is_file():
            img, data = read_nifti(candidate, "voxel mask")
            if data.ndim != 3:
                raise NeuroalignError(
                    f"{candidate}: mask has shape {data.shape}; expected 3-D (x, y, z)."
                )
            return img, data > 0
    for _, path in sessions:
        if path.suffix != ".hdf5":
            return _nifti_header(path), None
    raise NeuroalignError(
        f"{roi_dir}: no nsdgeneral.nii.gz or brainmask.nii.gz to place the HDF5 betas in space; "
        "fetch the subject's roi folder."
    )


def read_nsd(root: Path, subject: str) -> VisionBetas:
    """Read one NSD subject's single-trial betas (every session present)."""
    subj = subject_folder(subject)
    design = read_expdesign(root)
    folder = root / "nsddata_betas" / "ppdata" / subj / "func1pt8mm" / BETA_VERSION
    roi_dir = root / "nsddata" / "ppdata" / subj / "func1pt8mm" / "roi"
    sessions = _session_files(folder)
    if not sessions:
        raise NeuroalignError(
            f"{folder}: no betas_session<NN>.hdf5 or .nii.gz files; fetch this subject's betas."
        )
    k = int(subj[4:]) - 1
    if k >= design["subjectim"].shape[0]:
        raise NeuroalignError(
            f"{root / EXPDESIGN}: field 'subjectim' has {design['subjectim'].shape[0]} subjects; "
            f"{subj} is not among them."
        )
    order = design["masterordering"]
    if order.size and (order.min() < 1 or order.max() > design["subjectim"].shape[1]):
        raise NeuroalignError(
            f"{root / EXPDESIGN}: field 'masterordering' holds {order.min()}..{order.max()}; it "
            f"must index the {design['subjectim'].shape[1]} columns of 'subjectim' (1-based)."
        )
    ref, inside = _reference(folder, roi_dir, sessions)
    volumes, trials, session_of = [], [], []
    for number, path in sessions:
        data = _load_session(path)
        if data.shape[:3] != ref.shape[:3]:
            raise NeuroalignError(
                f"{path}: grid {data.shape[:3]} differs from {ref.get_filename()}'s "
                f"{ref.shape[:3]}; use the func1pt8mm files of one subject."
            )
        if inside is None:
            inside = np.any(data != 0, axis=3)
        n = data.shape[3]
        start = (number - 1) * TRIALS_PER_SESSION
        if start + n > design["masterordering"].size:
            raise NeuroalignError(
                f"{root / EXPDESIGN}: field 'masterordering' has {design['masterordering'].size} "
                f"trials; session {number} needs up to {start + n}."
            )
        volumes.append(data[inside].T)
        trials.append(np.arange(start, start + n))
        session_of.append(np.full(n, number))
    trial = np.concatenate(trials)
    all_ids = design["subjectim"][k, design["masterordering"] - 1] - 1
    nsd_ids = all_ids[trial]
    image_ids = np.array([f"{i:05d}" for i in nsd_ids])
    shared = np.isin(nsd_ids, design["sharedix"] - 1)
    rois = _rois(roi_dir, root, subj, ref.shape[:3], inside)
    return VisionBetas(
        betas=np.concatenate(volumes),
        image_ids=image_ids,
        repeat=repeat_index(all_ids)[trial],
        session=np.concatenate(session_of),
        split=np.where(shared, "test", "train"),
        rois=rois,
        mask=nib.Nifti1Image(inside.astype(np.uint8), ref.affine),
        dataset=root.name,
        subject=subj,
    )


def _ctab(root: Path, subj: str, name: str) -> dict[int, str]:
    path = root / "nsddata" / "freesurfer" / subj / "label" / f"{name}.mgz.ctab"
    if not path.is_file():
        return {}
    out = {}
    for line in path.read_text().splitlines():
        parts = line.split()
        if len(parts) >= 2 and parts[0].isdigit() and int(parts[0]) > 0:
            out[int(parts[0])] = parts[1]
    return out


def _rois(
    roi_dir: Path, root: Path, subj: str, shape: tuple[int, ...], inside: np.ndarray
) -> dict[str, np.ndarray]:
    rois = {}
    for path in sorted(roi_dir.glob("*.nii.gz")):
        name = path.name.removesuffix(".nii.gz")
        labels = read_nifti(path, "ROI labels")[1]
        if labels.shape[:3] != shape:
            continue
        values = sorted(int(v) for v in np.unique(labels) if v > 0)
        if values == [1]:
            rois[name] = (labels == 1)[inside]
            continue
        names = _ctab(root, subj, re.sub(r"^[lr]h\.", "", name))
        for v in values:
            rois[f"{name}_{names.get(v, v)}"] = (labels == v)[inside]
    return rois


def nsd_image_table(root: Path) -> pd.DataFrame:
    """Return NSD's images from ``nsd_stim_info_merged.csv`` (or the design's subject images).

    ``image`` is ``nsddata_stimuli/stimuli/nsd/images/<image_id>.png``: NSD ships its images
    in one HDF5 brick; :func:`export_nsd_images` writes those files.
    """
    path = root / STIM_INFO
    if path.is_file():
        info = pd.read_csv(path)
        if "nsdId" not in info.columns:
            raise NeuroalignError(
                f"{path}: field 'nsdId' missing (columns: {list(info.columns)[:8]}...); fetch "
                "nsd_stim_info_merged.csv again."
            )
        ids = info["nsdId"].astype(int).to_numpy()
        table = pd.DataFrame({"image_id": [f"{i:05d}" for i in ids]})
        table["image"] = [str(IMAGE_DIR / f"{i}.png") for i in table["image_id"]]
        for column in ("cocoId", "cocoSplit", "shared1000"):
            if column in info.columns:
                table[column] = info[column].to_numpy()
        return table
    design = read_expdesign(root)
    ids = np.unique(design["subjectim"].ravel()) - 1
    shared = set((design["sharedix"] - 1).tolist())
    table = pd.DataFrame({"image_id": [f"{i:05d}" for i in ids]})
    table["image"] = [str(IMAGE_DIR / f"{i}.png") for i in table["image_id"]]
    table["shared1000"] = [int(i) in shared for i in ids]
    return table


def export_nsd_images(root: str | Path, image_ids: list[str] | None = None) -> list[Path]:
    """Write NSD images from ``nsd_stimuli.hdf5`` (``imgBrick``) as PNGs for the image table.

    Parameters
    ----------
    root : str or Path
        The NSD folder.
    image_ids : list of str, optional
        Five-digit 0-based nsdIds; None: every image of the brick (73,000 files).

    Returns
    -------
    paths : list of Path
    """
    import h5py
    from PIL import Image

    root = Path(root)
    brick = root / STIM_BRICK
    if not brick.is_file():
        raise NeuroalignError(f"{brick}: not found; fetch nsd_stimuli.hdf5 first.")
    out_dir = root / IMAGE_DIR
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = []
    with h5py.File(brick, "r") as f:
        if "imgBrick" not in f:
            raise NeuroalignError(f"{brick}: field 'imgBrick' missing; fetch the file again.")
        images = f["imgBrick"]
        ids = image_ids if image_ids is not None else [f"{i:05d}" for i in range(len(images))]
        for image_id in ids:
            path = out_dir / f"{image_id}.png"
            Image.fromarray(np.asarray(images[int(image_id)], dtype=np.uint8)).save(path)
            paths.append(path)
    return paths

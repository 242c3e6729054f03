"""BOLD5000 release 2: GLMsingle single-trial betas per session and the stimulus lists.

Files read (subject ``CSI1`` .. ``CSI4``)::

    <subject>_GLMbetas-<variant>_ses-<NN>.nii.gz     4-D, x y z trial (any folder)
    <subject>_imgnames.txt          one image file name per trial, all sessions in order
      or BOLD5000_Stimuli/Stimuli_Presentation_Lists/<subject>/<subject>_sess<NN>/*run<RR>*.txt
    <subject>_brainmask.nii.gz      (optional; else voxels nonzero in any session)
    BOLD5000_Stimuli/Scene_Stimuli/Presented_Stimuli/<COCO|ImageNet|Scene>/<file>   images

Release 2.0 ships four GLMsingle versions per session: ``TYPEA-ASSUMEHRF``, ``TYPEB-FITHRF``
(spelled ``TYBEB`` in some file names), ``TYPEC-FITHRF-GLMDENOISE`` and
``TYPED-FITHRF-GLMDENOISE-RR``; ``variant`` picks one (default: ``TYPED``, the final betas).
The brain mask, when present, gives the voxels and the affine (the mask's, not the betas');
a ``rep_`` prefix of an image name in the lists (the repeated images) is dropped. 112 images
were shown four times and one three times (5,254 trials per full subject); the images shown
more than once are the test split.
"""

from __future__ import annotations

import re
from pathlib import Path

import nibabel as nib
import numpy as np
import pandas as pd

from neuroalign._check import NeuroalignError
from neuroalign.data.vision._betas import VisionBetas, repeat_index
from neuroalign.data.vision._things import read_betas, read_nifti

_BETAS = re.compile(
    r"(?P<sub>CSI\d+)_GLMbetas-(?P<variant>[A-Za-z0-9-]+)_ses-(?P<ses>\d+)\.nii(\.gz)?$"
)
_RUN_NUMBER = re.compile(r"run[-_]?(\d+)", re.IGNORECASE)
DEFAULT_VARIANT = "TYPED-FITHRF-GLMDENOISE-RR"
STIMULI = Path("BOLD5000_Stimuli")
PRESENTED = STIMULI / "Scene_Stimuli" / "Presented_Stimuli"
LISTS = STIMULI / "Stimuli_Presentation_Lists"


def is_bold5000(root: Path) -> bool:
    """Whether ``root`` holds BOLD5000 GLMsingle betas."""
    return any(_BETAS.search(p.name) for p in root.rglob("*GLMbetas*ses-*.nii*"))


def _subject(subject: str) -> str:
    match = re.fullmatch(r"(?:CSI|sub-CSI|sub-)?0*(\d+)", str(subject))
    if not match:
        raise NeuroalignError(f"BOLD5000 subject {subject!r}: use CSI1..CSI4 (or 1..4).")
    return f"CSI{int(match[1])}"


def variant_key(variant: str) -> str:
    """Return a GLMsingle variant name in one spelling (upper case, ``TYBEB`` read as ``TYPEB``)."""
    return str(variant).upper().replace("TYBEB", "TYPEB")


def session_files(root: Path, sub: str, variant: str = DEFAULT_VARIANT) -> list[tuple[int, Path]]:
    """Return (session, betas file) of one subject and GLMsingle variant, sorted by session.

    Raises
    ------
    NeuroalignError
        If no file of the variant is found (naming the variants present) or a session has
        several files of it.
    """
    by_session: dict[int, list[Path]] = {}
    variants = set()
    for path in sorted(root.rglob(f"{sub}_GLMbetas-*_ses-*.nii*")):
        match = _BETAS.search(path.name)
        if not match:
            continue
        variants.add(match["variant"])
        if variant_key(match["variant"]) == variant_key(variant):
            by_session.setdefault(int(match["ses"]), []).append(path)
    if not by_session:
        raise NeuroalignError(
            f"{root}: no {sub}_GLMbetas-{variant}_ses-<NN>.nii.gz files (variants here: "
            f"{sorted(variants) or 'none'}); fetch them or pass the reader option variant."
        )
    for ses, paths in by_session.items():
        if len(paths) > 1:
            raise NeuroalignError(
                f"{paths[0]}: session {ses} has {len(paths)} {variant} betas files "
                f"({', '.join(str(p) for p in paths[1:])} too); keep one of them."
            )
    return sorted((ses, paths[0]) for ses, paths in by_session.items())


def image_name(line: str) -> str:
    """Return the image file name of one stimulus-list line (stripped, ``rep_`` prefix dropped)."""
    return line.strip().removeprefix("rep_")


def _read_names(path: Path) -> list[str]:
    return [image_name(ln) for ln in path.read_text().splitlines() if ln.strip()]


def _run_number(path: Path) -> int:
    found = _RUN_NUMBER.findall(path.name)
    if not found:
        raise NeuroalignError(
            f"{path}: no run number in the file name (expected ...run<NN>.txt); rename or move "
            "files that are not run lists."
        )
    return int(found[-1])


def _trial_names(root: Path, sub: str, sessions: list[int]) -> dict[int, list[str]] | list[str]:
    for path in sorted(root.rglob(f"{sub}_imgnames.txt")):
        gaps = sorted(set(range(1, max(sessions) + 1)) - set(sessions))
        if gaps:
            raise NeuroalignError(
                f"{path}: lists the trials of all sessions in order, but the betas of session(s) "
                f"{gaps} are missing; fetch them, or use the per-run presentation lists."
            )
        return _read_names(path)
    out: dict[int, list[str]] = {}
    for ses in sessions:
        folder = root / LISTS / sub / f"{sub}_sess{ses:02d}"
        runs = sorted(folder.glob("*run*.txt"), key=_run_number)
        if not runs:
            raise NeuroalignError(
                f"{root}: no {sub}_imgnames.txt and no run lists in {folder}; fetch the "
                "stimulus presentation lists."
            )
        out[ses] = [name for p in runs for name in _read_names(p)]
    return out


def _brain_mask(root: Path, sub: str, shape: tuple[int, ...]) -> nib.Nifti1Image | None:
    paths = sorted(root.rglob(f"{sub}_brainmask.nii*"))
    if not paths:
        return None
    img, data = read_nifti(paths[0], "brain mask")
    if data.shape[:3] != shape or data.size != int(np.prod(shape)):
        raise NeuroalignError(
            f"{paths[0]}: mask grid {data.shape} differs from the betas' {shape}; use the mask "
            "of this subject's beta space."
        )
    return nib.Nifti1Image((data.reshape(shape) != 0).astype(np.uint8), img.affine)


def union_columns(
    blocks: list[np.ndarray], masks: list[np.ndarray]
) -> tuple[np.ndarray, np.ndarray]:
    """Put per-session blocks on the union of their voxels.

    Parameters
    ----------
    blocks : list of ndarray, shape (n_voxels_s, n_trials_s)
        Each session's values at its own voxels ``masks[s]`` (C order).
    masks : list of ndarray of bool, shape (x, y, z)

    Returns
    -------
    betas : ndarray, shape (sum n_trials_s, n_union)
        Trials x voxels of the union mask, zero where a session had no value.
    union : ndarray of bool, shape (x, y, z)
    """
    union = np.logical_or.reduce(masks)
    out = []
    for block, mask in zip(blocks, masks, strict=True):
        full = np.zeros((int(union.sum()), block.shape[1]), dtype=np.float32)
        full[np.flatnonzero(mask[union])] = block
        out.append(full.T)
    return np.concatenate(out), union


def read_bold5000(root: Path, subject: str, variant: str = DEFAULT_VARIANT) -> VisionBetas:
    """Read one BOLD5000 subject's GLMsingle single-trial betas (every session present).

    Parameters
    ----------
    root : Path
        The dataset folder.
    subject : str
        ``CSI1`` .. ``CSI4`` (or ``1`` .. ``4``).
    variant : str
        GLMsingle version, the file names' part after ``GLMbetas-``
        (``TYPED-FITHRF-GLMDENOISE-RR``, ``TYPEC-FITHRF-GLMDENOISE``, ``TYPEB-FITHRF``,
        ``TYPEA-ASSUMEHRF``; ``TYBEB`` and ``TYPEB`` are the same).

    Returns
    -------
    betas : VisionBetas
        Voxels: the brain mask's if present, else those nonzero in any session.
    """
    sub = _subject(subject)
    files = session_files(root, sub, variant)
    names = _trial_names(root, sub, [s for s, _ in files])
    first = None
    mask_img = None
    blocks, masks, ids, sessions = [], [], [], []
    offset = 0
    for ses, path in files:
        img, data = read_betas(path, first, "session")
        if first is None:
            first = img
            mask_img = _brain_mask(root, sub, data.shape[:3])
        n = data.shape[3]
        shown = names[offset : offset + n] if isinstance(names, list) else names[ses]
        offset += n
        if len(shown) != n:
            raise NeuroalignError(
                f"{path}: {n} beta volumes but the stimulus list gives {len(shown)} trials for "
                f"session {ses}; use the lists of this release."
            )
        inside = (
            np.asanyarray(mask_img.dataobj) != 0 if mask_img is not None else np.any(data != 0, 3)
        )
        blocks.append(data[inside])
        masks.append(inside)
        ids.extend(Path(s).stem for s in shown)
        sessions.extend([ses] * n)
    betas, union = union_columns(blocks, masks)
    image_ids = np.array(ids, dtype=str)
    _, inverse, counts = np.unique(image_ids, return_inverse=True, return_counts=True)
    affine = mask_img.affine if mask_img is not None else first.affine
    return VisionBetas(
        betas=betas,
        image_ids=image_ids,
        repeat=repeat_index(image_ids),
        session=np.array(sessions),
        split=np.where(counts[inverse] > 1, "test", "train"),
        mask=nib.Nifti1Image(union.astype(np.uint8), affine),
        dataset=root.name,
        subject=sub,
    )


def bold5000_image_table(root: Path) -> pd.DataFrame:
    """Return BOLD5000's presented images; ``category`` is the source (COCO, ImageNet, Scene)."""
    files = sorted(p for p in (root / PRESENTED).glob("*/*") if p.is_file())
    if not files:
        raise NeuroalignError(
            f"{root / PRESENTED}: no images; fetch BOLD5000_Stimuli (Presented_Stimuli/<source>/)."
        )
    return pd.DataFrame(
        {
            "image_id": [p.stem for p in files],
            "image": [str(p.relative_to(root)) for p in files],
            "category": [p.parent.name for p in files],
        }
    )

"""BOLD5000 release 2: GLMsingle single-trial betas per session and the stimulus lists.

Files read (subject ``CSI1`` .. ``CSI4``)::

    <subject>_GLMbetas-TYPED-FITHRF-GLMDENOISE-RR_ses-<NN>.nii.gz     4-D, x y z trial (any folder)
    <subject>_imgnames.txt          one image file name per trial, all sessions in order
      or BOLD5000_Stimuli/Stimuli_Presentation_Lists/<subject>/<subject>_sess<NN>/*run<RR>*.txt
    <subject>_brainmask.nii.gz      (optional; else voxels nonzero in any session)
    BOLD5000_Stimuli/Scene_Stimuli/Presented_Stimuli/<COCO|ImageNet|Scene>/<file>   images

The images shown more than once (about 113 of them, four times each) are the test split.
Unverified offline: the trial-list file names and where the brain mask lives; the betas'
file naming follows the release-2 paper (Chang et al. 2019; GLMsingle, Prince et al. 2022).
"""

from __future__ import annotations

import re
from pathlib import Path

import nibabel as nib
import numpy as np
import pandas as pd

from neuroalign._check import NeuroalignError
from neuroalign.data.vision._betas import VisionBetas, repeat_index

_BETAS = re.compile(r"(?P<sub>CSI\d+)_GLMbetas-[A-Za-z0-9-]+_ses-(?P<ses>\d+)\.nii(\.gz)?$")
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


def _trial_names(root: Path, sub: str, sessions: list[int]) -> dict[int, list[str]] | list[str]:
    for path in sorted(root.rglob(f"{sub}_imgnames.txt")):
        return [line.strip() for line in path.read_text().splitlines() if line.strip()]
    out: dict[int, list[str]] = {}
    for ses in sessions:
        folder = root / LISTS / sub / f"{sub}_sess{ses:02d}"
        runs = sorted(
            folder.glob("*run*.txt"), key=lambda p: int(re.findall(r"run(\d+)", p.name)[-1])
        )
        if not runs:
            raise NeuroalignError(
                f"{root}: no {sub}_imgnames.txt and no run lists in {folder}; fetch the "
                "stimulus presentation lists."
            )
        out[ses] = [ln.strip() for p in runs for ln in p.read_text().splitlines() if ln.strip()]
    return out


def read_bold5000(root: Path, subject: str) -> VisionBetas:
    """Read one BOLD5000 subject's GLMsingle single-trial betas (every session present)."""
    sub = _subject(subject)
    files = sorted(
        (int(m["ses"]), p)
        for p in root.rglob(f"{sub}_GLMbetas-*_ses-*.nii*")
        if (m := _BETAS.search(p.name))
    )
    if not files:
        raise NeuroalignError(f"{root}: no {sub}_GLMbetas-*_ses-<NN>.nii.gz files; fetch them.")
    names = _trial_names(root, sub, [s for s, _ in files])
    mask_paths = sorted(root.rglob(f"{sub}_brainmask.nii*"))
    first = nib.load(files[0][1])
    inside = np.asanyarray(nib.load(mask_paths[0]).dataobj) != 0 if mask_paths else None
    volumes, ids, sessions = [], [], []
    offset = 0
    for ses, path in files:
        data = np.asarray(nib.load(path).dataobj, dtype=np.float32)
        n = data.shape[3]
        if isinstance(names, list):
            shown = names[offset : offset + n]
        else:
            shown = names[ses]
        offset += n
        if len(shown) != n:
            raise NeuroalignError(
                f"{path}: {n} beta volumes but the stimulus list gives {len(shown)} trials for "
                f"session {ses}; use the lists of this release."
            )
        if inside is None:
            inside = np.any(data != 0, axis=3)
        volumes.append(data[inside].T)
        ids.extend(Path(s).stem for s in shown)
        sessions.extend([ses] * n)
    image_ids = np.array(ids, dtype=str)
    _, inverse, counts = np.unique(image_ids, return_inverse=True, return_counts=True)
    return VisionBetas(
        betas=np.concatenate(volumes),
        image_ids=image_ids,
        repeat=repeat_index(image_ids),
        session=np.array(sessions),
        split=np.where(counts[inverse] > 1, "test", "train"),
        mask=nib.Nifti1Image(inside.astype(np.uint8), first.affine),
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

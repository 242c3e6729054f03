"""Natural Object Dataset (NOD, OpenNeuro ds004496): per-run surface betas with label files.

Files read (subject ``XX``)::

    derivatives/ciftify/sub-XX/results/ses-<ses>_task-<task>_run-<r>/
        ses-<ses>_task-<task>_run-<r>_beta.dscalar.nii     CIFTI, trial x grayordinate
        ses-<ses>_task-<task>_run-<r>_label.txt            one image name per trial
    stimuli/<imagenet|coco>/.../<file>                     images (optional, for the table)

Surface data: ``mask`` is None and ``to_volume`` refuses. The images shown more than once (the
COCO images of the ``coco`` sessions) are the test split. Unverified offline: the file names
of the released betas and labels (ciftify results folders as in Gong et al. 2023).
"""

from __future__ import annotations

import re
from pathlib import Path

import nibabel as nib
import numpy as np
import pandas as pd

from neuroalign._check import NeuroalignError
from neuroalign.data.vision._betas import VisionBetas, repeat_index

CIFTIFY = Path("derivatives") / "ciftify"
_RUN = re.compile(r"ses-(?P<ses>[^_]+)_task-(?P<task>[^_]+)_run-(?P<run>\d+)_beta\.dscalar\.nii$")


def is_nod(root: Path) -> bool:
    """Whether ``root`` holds NOD's ciftify betas."""
    return any((root / CIFTIFY).glob("sub-*/results/*/*_beta.dscalar.nii"))


def read_nod(root: Path, subject: str) -> VisionBetas:
    """Read one NOD subject's surface single-trial betas (every run present)."""
    sub = str(subject).removeprefix("sub-")
    folder = root / CIFTIFY / f"sub-{sub}" / "results"
    runs = []
    for path in folder.glob("*/*_beta.dscalar.nii"):
        match = _RUN.search(path.name)
        if match:
            runs.append((match["ses"], int(match["run"]), path))
    if not runs:
        raise NeuroalignError(
            f"{folder}: no ses-*_task-*_run-*_beta.dscalar.nii files; fetch this subject's "
            "ciftify results."
        )
    runs.sort()
    session_numbers: dict[str, int] = {}
    blocks, ids, sessions = [], [], []
    for ses, _, path in runs:
        data = np.asarray(nib.load(path).get_fdata(dtype=np.float32))
        label = path.with_name(path.name.replace("_beta.dscalar.nii", "_label.txt"))
        if not label.is_file():
            raise NeuroalignError(
                f"{path}: no label file {label.name} beside it; each run's betas need the "
                "image names of their trials."
            )
        names = [ln.split()[0] for ln in label.read_text().splitlines() if ln.strip()]
        if len(names) != data.shape[0]:
            raise NeuroalignError(
                f"{label}: {len(names)} trials but {path.name} has {data.shape[0]} maps; the "
                "label file needs one line per trial."
            )
        if blocks and data.shape[1] != blocks[0].shape[1]:
            raise NeuroalignError(
                f"{path}: {data.shape[1]} grayordinates, the first run has {blocks[0].shape[1]}."
            )
        blocks.append(data)
        ids.extend(Path(n).stem for n in names)
        sessions.extend([session_numbers.setdefault(ses, len(session_numbers) + 1)] * len(names))
    image_ids = np.array(ids, dtype=str)
    _, inverse, counts = np.unique(image_ids, return_inverse=True, return_counts=True)
    return VisionBetas(
        betas=np.concatenate(blocks),
        image_ids=image_ids,
        repeat=repeat_index(image_ids),
        session=np.array(sessions),
        split=np.where(counts[inverse] > 1, "test", "train"),
        mask=None,
        dataset=root.name,
        subject=sub,
    )


def nod_image_table(root: Path) -> pd.DataFrame:
    """Return NOD's images: files under ``stimuli/`` if present, else the label files' names.

    ``category`` is the ImageNet synset (the file name's prefix before ``_``) or ``coco``.
    """
    files = sorted(p for p in (root / "stimuli").rglob("*") if p.is_file())
    if files:
        paths = [str(p.relative_to(root)) for p in files]
    else:
        names = {
            ln.split()[0]
            for label in (root / CIFTIFY).glob("sub-*/results/*/*_label.txt")
            for ln in label.read_text().splitlines()
            if ln.strip()
        }
        if not names:
            raise NeuroalignError(f"{root}: no stimuli/ folder and no label files list the images.")
        paths = sorted(str(Path("stimuli") / n) for n in names)
    stems = [Path(p).stem for p in paths]
    return pd.DataFrame(
        {
            "image_id": stems,
            "image": paths,
            "category": [
                s.split("_")[0] if s.startswith("n") and "_" in s else "coco" for s in stems
            ],
        }
    )

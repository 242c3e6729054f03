"""Natural Object Dataset (NOD, OpenNeuro ds004496): per-run surface betas on the fsLR surface.

Files read (subject ``XX``)::

    derivatives/ciftify/sub-XX/results/ses-<ses>_task-<task>_run-<r>/
        ses-<ses>_task-<task>_run-<r>_beta.dscalar.nii     CIFTI, trial x grayordinate
        ses-<ses>_task-<task>_run-<r>_label.txt            the trials' image names (fallback)
    stimuli/<imagenet|coco>/.../<file>                     images (optional, for the table)

Each trial's image is the name of its map in the dscalar file (NOD's GLM writes the stimulus
file names as the map names); the label file is read only when the maps carry no names. It
is written without separators between the names (``writelines``), so names are split on
whitespace when it has any, else at each image extension (``.JPEG``, ``.jpg``, ``.png``).

Surface data: ``mask`` is None and ``to_volume`` refuses. The images shown more than once (the
COCO images of the ``coco`` sessions) are the test split.
"""

from __future__ import annotations

import re
from pathlib import Path

import nibabel as nib
import numpy as np
import pandas as pd

from neuroalign._check import NeuroalignError
from neuroalign.data.vision._betas import VisionBetas, repeat_index
from neuroalign.data.vision._things import read_nifti

CIFTIFY = Path("derivatives") / "ciftify"
_RUN = re.compile(r"ses-(?P<ses>[^_]+)_task-(?P<task>[^_]+)_run-(?P<run>\d+)_beta\.dscalar\.nii$")
_IMAGE_FILE = re.compile(r".+?\.(?:jpe?g|png|bmp)", re.IGNORECASE)


def is_nod(root: Path) -> bool:
    """Whether ``root`` holds NOD's ciftify betas."""
    return any((root / CIFTIFY).glob("sub-*/results/*/*_beta.dscalar.nii"))


def map_names(img: nib.Cifti2Image) -> list[str] | None:
    """Return the names of a dscalar file's maps, or None if it has no (or blank) map names."""
    try:
        axis = img.header.get_axis(0)
    except (AttributeError, ValueError, IndexError):
        return None
    if not isinstance(axis, nib.cifti2.ScalarAxis):
        return None
    names = [str(n).strip() for n in axis.name]
    if not names or any(n in ("", "None") for n in names):
        return None
    return names


def split_label_text(text: str) -> list[str]:
    """Return the image names of a label file.

    One name per line (its first token) when the file has several lines; a single line is
    split on whitespace, or, when it has none (names written back to back), after each image
    file extension.
    """
    lines = [ln.split()[0] for ln in text.splitlines() if ln.strip()]
    if len(lines) != 1:
        return lines
    tokens = text.split()
    if len(tokens) == 1:
        return _IMAGE_FILE.findall(tokens[0]) or tokens
    return tokens


def _label_names(path: Path, n_maps: int) -> list[str]:
    label = path.with_name(path.name.replace("_beta.dscalar.nii", "_label.txt"))
    if not label.is_file():
        raise NeuroalignError(
            f"{path}: the maps have no names and there is no label file {label.name} beside "
            "it; each run's betas need the image names of their trials."
        )
    names = split_label_text(label.read_text())
    if len(names) != n_maps:
        raise NeuroalignError(
            f"{label}: {len(names)} image names but {path.name} has {n_maps} maps; the label "
            "file needs one name per trial."
        )
    return names


def read_nod(root: Path, subject: str) -> VisionBetas:
    """Read one NOD subject's surface single-trial betas (every run present).

    Parameters
    ----------
    root : Path
        The dataset folder (OpenNeuro ds004496).
    subject : str
        Subject label without ``sub-`` (``"01"``).

    Returns
    -------
    betas : VisionBetas
        Trials in session then run order; image ids are the map names without extension.
    """
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
        img, data = read_nifti(path, "betas", np.float32)
        if data.ndim != 2:
            raise NeuroalignError(
                f"{path}: betas have shape {data.shape}; expected 2-D (trial, grayordinate)."
            )
        names = map_names(img)
        if names is None:
            names = _label_names(path, data.shape[0])
        elif len(names) != data.shape[0]:
            raise NeuroalignError(
                f"{path}: {len(names)} map names but {data.shape[0]} maps; fetch the file again."
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
            name
            for label in (root / CIFTIFY).glob("sub-*/results/*/*_label.txt")
            for name in split_label_text(label.read_text())
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

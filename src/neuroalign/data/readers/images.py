"""Image stimulus tables: one row per image of a vision dataset, its caption as the text.

The table's ``text`` is the image's caption (else its category label, else its id); an image
whose text is missing or empty is an error naming it (never the text "nan"). Each
image is its own story, and extra columns carry ``image_id``, ``image`` (the path relative to
the dataset folder) and the dataset's label columns. The provenance records ``image_root``,
the dataset folder the ``image`` paths are relative to.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pandas as pd

from neuroalign._check import NeuroalignError
from neuroalign.data.stimuli import standardize

_TEXT_FALLBACK = ("caption", "category", "image_id")


def read_images(
    paths: Sequence[str | Path],
    *,
    stimset: str = "images",
    format: str = "auto",
    text_column: str | None = None,
    split: str | None = None,
) -> pd.DataFrame:
    """Read a vision dataset's image table as a stimulus table.

    Parameters
    ----------
    paths : sequence of path
        One dataset folder, or its image table file (``images.tsv``; its folder is the
        dataset folder).
    stimset : str
        Name of the stimulus set.
    format : str
        Vision dataset format (``auto``, ``nsd``, ``things``, ``bold5000``, ``nod``; see
        :func:`neuroalign.data.vision.read_image_table`).
    text_column : str, optional
        Column presented as ``text``; None: ``caption``, else ``category``, else ``image_id``.
    split : str, optional
        Keep only the images of this split (``train`` or ``test``; needs a ``split`` column).

    Returns
    -------
    table : DataFrame
        A standardized stimulus table with extra columns ``image_id``, ``image`` and the
        dataset's labels; ``attrs["info"]["image_root"]`` is the dataset folder.
    """
    from neuroalign.data.vision import read_image_table

    if len(paths) != 1:
        raise NeuroalignError(
            f"reader 'images' takes one dataset folder (or its images.tsv); got {len(paths)}."
        )
    path = Path(paths[0])
    root = path if path.is_dir() else path.parent
    table = read_image_table(root, format=format)
    if split is not None:
        if "split" not in table.columns:
            raise NeuroalignError(
                f"{root}: the image table has no field 'split'; drop the split option."
            )
        table = table[table["split"] == split]
    if text_column is None:
        text_column = next(c for c in _TEXT_FALLBACK if c in table.columns)
    if text_column not in table.columns:
        raise NeuroalignError(
            f"{root}: the image table has no field {text_column!r} (columns: "
            f"{list(table.columns)}); set text_column to one of them."
        )
    text = table[text_column]
    missing = text.isna().to_numpy() | (text.astype(str).str.strip() == "").to_numpy()
    if missing.any():
        first = table["image_id"].astype(str).to_numpy()[missing][0]
        raise NeuroalignError(
            f"{root}: image {first!r} has no {text_column} ({int(missing.sum())} images in all); "
            f"fill it in the image table, or set text_column to another field (columns: "
            f"{list(table.columns)})."
        )
    out = table.copy()
    out.insert(0, "text", text.astype(str).to_numpy())
    out["story"] = out["image_id"].astype(str)
    out["position"] = 0
    out["condition"] = table["split"].astype(str).to_numpy() if "split" in table else ""
    sources = [path] if path.is_file() else []
    return standardize(
        out,
        stimset=stimset,
        reader="images",
        sources=sources,
        options={"format": format, "text_column": text_column, "split": split},
        info={"image_root": str(root.resolve()), "n_images": len(out)},
    )

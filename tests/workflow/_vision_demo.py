"""What the demo's simulated vision dataset must show: the planted ROIs recovered by encoding,
decoding above chance by the planted margin, and the reconstruction gallery with its images.

Called by the end-to-end demo test after its run, on the run's results and report folder (the
browser has already loaded every page and decoded every image there).
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np

from neuroalign.results import load_netcdf

#: Encoding recovers the planted responsive voxels of every ROI.
MIN_PRECISION = MIN_RECALL = 0.8
#: 2-way identification of decoded embeddings (chance 0.5), as the decoding tests plant it.
MIN_TWO_WAY = 0.9

_RECOVERY_ROW = re.compile(
    r"<tr><td>(\w+)</td><td>(\d+)</td><td>([\d.]+)</td><td>([\d.]+)</td></tr>"
)


def check_vision_demo(results: Path, site: Path, n_gallery: int) -> dict[str, dict]:
    """Assert the vision results and pages of a demo run; return the figures checked.

    Parameters
    ----------
    results : Path
        The run's results folder.
    site : Path
        Its report folder.
    n_gallery : int
        Reconstructed images the config asks for (one gallery row each).
    """
    enc = load_netcdf(results / "vision" / "encoding" / "sim_vision" / "sub-01.nc")
    rois = [str(r) for r in enc["roi"].values]
    precision = enc["recovery_precision"].values
    recall = enc["recovery_recall"].values
    figures = {
        "precision": dict(zip(rois, precision, strict=True)),
        "recall": dict(zip(rois, recall, strict=True)),
    }
    assert (precision >= MIN_PRECISION).all() and (recall >= MIN_RECALL).all(), figures
    page = (site / "vision-encode-sim_vision_sub-01.html").read_text()
    shown = {name: (float(p), float(r)) for name, _, p, r in _RECOVERY_ROW.findall(page)}
    assert sorted(shown) == sorted(rois), shown
    for k, name in enumerate(rois):
        np.testing.assert_allclose(shown[name], (precision[k], recall[k]), atol=5e-4)

    dec = load_netcdf(
        results / "vision" / "decode" / "sim_vision" / "sub-01" / "tiny_clip" / "decode.nc"
    )
    scores = {
        str(m): (float(dec["score"].sel(metric=m)), float(dec["low"].sel(metric=m)))
        for m in dec["metric"].values
    }
    chance = {str(m): float(dec["chance"].sel(metric=m)) for m in dec["metric"].values}
    figures["decode"] = scores
    assert chance["two_way"] == 0.5
    assert scores["two_way"][0] > MIN_TWO_WAY, scores
    for metric in ("two_way", "retrieval_forward", "retrieval_backward"):
        assert scores[metric][1] > chance[metric], (metric, scores[metric], chance[metric])
    assert "2-way identification" in (site / "vision-decode.html").read_text()

    gallery = (site / "vision-gallery.html").read_text()
    srcs = re.findall(r'<img src="([^"]+)"', gallery)
    assert gallery.count('class="gallery-row"') == n_gallery
    assert len(srcs) >= 2 * n_gallery  # ground truth and at least one sample per image
    assert all((site / src).is_file() for src in srcs), srcs
    assert "Simulated data" in gallery
    return figures

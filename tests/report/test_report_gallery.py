"""The reconstruction gallery: ground truth, then the chosen sample, then the others, in order."""

from __future__ import annotations

import re

import numpy as np
import pytest
from PIL import Image

from neuroalign.report import build_report
from neuroalign.vision.reconstruct import _write_parquet, seed_table


def _run(folder, n_images=3, n_samples=3):
    (folder / "recons").mkdir(parents=True)
    (folder / "truth").mkdir()
    ids = np.array(["img_b", "img_a", "img_c"])[:n_images]
    table = seed_table(ids, n_samples, base_seed=1)
    table["image_id"] = ids[table["index"]]
    pairs = zip(table["image_id"], table["sample"], strict=True)
    table["path"] = [f"recons/{i}_s{k}.png" for i, k in pairs]
    table["cosine"] = np.linspace(-0.5, 0.5, len(table))
    table["chosen"] = table["sample"] == 2  # the last sample of each image is the chosen one
    table["truth"] = [f"truth/{i}.png" for i in table["image_id"]]
    for rel in set(table["path"]) | set(table["truth"]):
        Image.new("RGB", (8, 8), (len(rel), 0, 0)).save(folder / rel)
    table = table[["image_id", "index", "sample", "seed", "path", "cosine", "chosen", "truth"]]
    _write_parquet(
        table, {"stage": "reconstruct", "pipeline": "path:tiny"}, folder / "recons.parquet"
    )
    return table


def test_gallery_has_one_img_per_image_in_order(tmp_path):
    results = tmp_path / "results"
    run = (
        results
        / "vision"
        / "decode"
        / "sim_vision"
        / "sub-01"
        / "tiny_clip"
        / "reconstruct"
        / "demo"
    )
    table = _run(run)
    index = build_report(output=results / "report" / "index.html", config={}, results=results)
    site = index.parent
    assert "vision-gallery.html" in index.read_text()
    html = (site / "vision-gallery.html").read_text()
    srcs = re.findall(r'<img src="([^"]+)"', html)
    expected = []
    for image_id in ["img_b", "img_a", "img_c"]:
        expected.append(f"{image_id}_truth.png")
        expected += [f"{image_id}_s{k}.png" for k in (2, 0, 1)]
    assert [s.rsplit("/", 1)[-1] for s in srcs] == expected
    for src in srcs:
        assert (site / src).is_file()
    assert html.count('class="gallery-row"') == 3  # one row per image
    assert "Simulated data" in html
    for seed in table["seed"]:
        assert str(int(seed)) in html


@pytest.mark.browser
def test_gallery_renders_its_images_in_a_browser(tmp_path, browser, check_pages):
    results = tmp_path / "results"
    run = results / "vision" / "decode" / "sim_vision" / "sub-01" / "tiny_clip"
    _run(run / "reconstruct" / "demo")
    index = build_report(output=results / "report" / "index.html", config={}, results=results)
    gallery = index.parent / "vision-gallery.html"
    # ground truth and three samples for each of the three images, every one decoded
    assert check_pages(browser, [gallery], tmp_path / "gallery.png") == 12

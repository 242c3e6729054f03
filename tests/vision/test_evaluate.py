"""The image-metrics stage on PNGs: perfect reconstructions score as perfect."""

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from neuroalign.results import load_netcdf
from neuroalign.vision.evaluate import MetricsSettings, evaluate_images, metrics_table


def _png(path, seed):
    rng = np.random.default_rng(seed)
    small = rng.integers(0, 255, (4, 4, 3), dtype=np.uint8)
    Image.fromarray(small).resize((32, 32), Image.Resampling.BILINEAR).save(path)


def test_metrics_stage(tmp_path):
    truth = tmp_path / "truth"
    truth.mkdir()
    rec = tmp_path / "recons"
    rec.mkdir()
    rows = []
    for k in range(5):
        _png(truth / f"img{k}.png", k)
        # sample 0 is the image itself and is chosen; sample 1 another image
        _png(rec / f"img{k}_s0.png", k)
        _png(rec / f"img{k}_s1.png", 100 + k)
        rows += [
            {"image_id": f"img{k}", "sample": 0, "path": f"img{k}_s0.png", "chosen": True},
            {"image_id": f"img{k}", "sample": 1, "path": f"img{k}_s1.png", "chosen": False},
        ]
    pd.DataFrame(rows).to_parquet(rec / "recons.parquet")
    settings = MetricsSettings.from_config(
        {
            "metrics": ["pixcorr", "ssim", "clip"],
            "image_size": 32,
            "n_bootstrap": 50,
            "device": "cpu",
        }
    )
    out = evaluate_images(
        settings, truth=truth, recons=rec / "recons.parquet", output=tmp_path / "metrics.nc"
    )
    ds = load_netcdf(out)
    assert ds["value"].sel(metric="pixcorr") == pytest.approx(1.0)
    assert ds["value"].sel(metric="ssim") == pytest.approx(1.0)
    assert float(ds["value"].sel(metric="clip")) == 1.0
    assert ds.attrs["extractors"] == "random" and ds["per_image"].shape == (3, 5)
    table = metrics_table(out)
    assert list(table["better"]) == ["higher"] * 3
    every = evaluate_images(
        settings.replace(recons="all"), truth=truth, recons=rec, output=tmp_path / "all.nc"
    )
    assert float(load_netcdf(every)["value"].sel(metric="pixcorr")) < 0.99


def test_chosen_samples_differing_between_images_are_one_set(tmp_path):
    truth = tmp_path / "truth"
    truth.mkdir()
    rec = tmp_path / "recons"
    rec.mkdir()
    rows = []
    for k in range(4):
        _png(truth / f"img{k}.png", k)
        good = k % 2  # the faithful (chosen) reconstruction is sample 0 or sample 1
        for sample in (0, 1):
            _png(rec / f"img{k}_s{sample}.png", k if sample == good else 100 + k)
            rows.append(
                {
                    "image_id": f"img{k}",
                    "sample": sample,
                    "path": f"img{k}_s{sample}.png",
                    "chosen": sample == good,
                }
            )
    pd.DataFrame(rows).to_parquet(rec / "recons.parquet")
    settings = MetricsSettings.from_config(
        {"metrics": ["pixcorr"], "image_size": 32, "n_bootstrap": 20, "device": "cpu"}
    )
    out = evaluate_images(settings, truth=truth, recons=rec, output=tmp_path / "m.nc")
    ds = load_netcdf(out)
    assert ds["value"].sel(metric="pixcorr") == pytest.approx(1.0)
    assert ds["per_image"].shape == (1, 4)

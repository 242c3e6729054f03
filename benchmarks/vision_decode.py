"""Benchmark: fMRI -> image-embedding decoding and the image metrics, GPU against CPU anchors.

Two problems, each timed side by side in one run (one warm-up, then ``--repeats`` timed runs;
the median is reported):

* ``decode``: an NSD-sized problem: 9,000 training and 1,000 test images, 15,724 voxels (subj01's
  nsdgeneral), 1,024-d embeddings (SD-2.1-unCLIP's OpenCLIP ViT-H space), voxels a planted linear
  map of the embeddings plus noise. Ours (:func:`neuroalign.vision.decode.decode_arrays`: z-scoring
  with training statistics, ridge over 10^1..10^6 with 5-fold CV, one alpha per dimension, norm
  rescaling, 2-way identification and 300-way retrieval with bootstrap intervals) on the GPU in
  float32, against scikit-learn ``RidgeCV(alpha_per_target=True)`` (efficient leave-one-out, the
  MindEye-style baseline's usual tool) on every CPU core, over the same alphas. Agreement: the
  2-way identification of both predictions.
* ``metrics``: MindEye's image metrics (:func:`neuroalign.vision.metrics.evaluate`) of 1,000
  reconstructions at 256 px with the feature networks on the GPU against the same on the CPU
  (on ``--cpu-images`` images; rates per image are compared). The networks have random weights
  (the numbers are timings, not scores).

Usage::

    python benchmarks/vision_decode.py --problems decode,metrics --out vision_decode.json
"""

from __future__ import annotations

import argparse
import json
import os
import time

import numpy as np
import torch

from neuroalign.vision.decode import DECODE_ALPHAS, decode_arrays, rescale_norms, zscore_train
from neuroalign.vision.metrics import build_feature_metrics, evaluate
from neuroalign.vision.retrieval import two_way_scores


def sync() -> None:
    if torch.cuda.is_available():
        torch.cuda.synchronize()


def timed(fn, repeats: int) -> tuple[object, float]:
    """The last result and the median time (s) of ``repeats`` runs after one warm-up."""
    fn()
    times, out = [], None
    for _ in range(repeats):
        sync()
        start = time.perf_counter()
        out = fn()
        sync()
        times.append(time.perf_counter() - start)
    return out, float(np.median(times))


def planted_problem(n_train, n_test, n_voxels, n_dims, snr, seed=0):
    """Embeddings Y and voxels X = Y W + noise (at the given per-voxel SNR)."""
    gen = torch.Generator(device="cpu").manual_seed(seed)
    Y = torch.randn(n_train + n_test, n_dims, generator=gen)
    W = torch.randn(n_dims, n_voxels, generator=gen) / np.sqrt(n_dims)
    X = Y @ W
    X += torch.randn(X.shape, generator=gen) * (X.std() / np.sqrt(snr))
    train = np.arange(n_train)
    test = np.arange(n_train, n_train + n_test)
    return X.numpy(), Y.numpy(), train, test


def bench_decode(args) -> dict:
    from sklearn.linear_model import RidgeCV as SkRidgeCV

    n_train, n_test, n_voxels, n_dims = (int(v) for v in args.decode_shape.split(","))
    X, Y, train, test = planted_problem(n_train, n_test, n_voxels, n_dims, snr=0.05)
    device = "cuda" if torch.cuda.is_available() else "cpu"

    def ours():
        return decode_arrays(X, Y, train, test, device=device, dtype="float32", n_bootstrap=1000)

    fit, t_ours = timed(ours, args.repeats)
    alphas = np.logspace(DECODE_ALPHAS["start"], DECODE_ALPHAS["stop"], DECODE_ALPHAS["num"])

    def anchor():
        Z = zscore_train(X, train)
        model = SkRidgeCV(alphas=alphas, alpha_per_target=True).fit(Z[train], Y[train])
        return rescale_norms(model.predict(Z[test]), Y[train])

    pred, t_sk = timed(anchor, max(1, args.ref_repeats))
    return {
        "shape": {"train": n_train, "test": n_test, "voxels": n_voxels, "dims": n_dims},
        "ours_s": t_ours,
        "sklearn_s": t_sk,
        "speedup": t_sk / t_ours,
        "ours_two_way": fit.scores["two_way"]["value"],
        "ours_two_way_ci": [fit.scores["two_way"]["low"], fit.scores["two_way"]["high"]],
        "ours_retrieval_forward": fit.scores["retrieval_forward"]["value"],
        "sklearn_two_way": float(two_way_scores(Y[test], pred).mean()),
        "device": torch.cuda.get_device_name() if device == "cuda" else "cpu",
        "cpu_threads": torch.get_num_threads(),
    }


def bench_metrics(args) -> dict:
    rng = np.random.default_rng(0)
    n = args.images
    truth = rng.random((n, 3, 256, 256), dtype=np.float32)
    recon = np.clip(truth + 0.2 * rng.standard_normal(truth.shape, dtype=np.float32), 0, 1)
    out = {"images": n}
    for device, count in (("cuda", n), ("cpu", args.cpu_images)):
        if device == "cuda" and not torch.cuda.is_available():
            continue
        nets = build_feature_metrics("random", device=device)

        def run(device=device, count=count, nets=nets):
            return evaluate(
                truth[:count],
                recon[:count],
                feature_metrics=nets,
                device=device,
                batch_size=64,
                n_bootstrap=1000,
            )

        _, t = timed(run, 1)
        out[f"{device}_s"] = t
        out[f"{device}_images_per_s"] = count / t
    if "cuda_s" in out:
        out["speedup_per_image"] = out["cuda_images_per_s"] / out["cpu_images_per_s"]
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--problems", default="decode,metrics")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--ref-repeats", type=int, default=1)
    parser.add_argument(
        "--decode-shape", default="9000,1000,15724,1024", help="train,test,voxels,dims"
    )
    parser.add_argument("--images", type=int, default=1000)
    parser.add_argument("--cpu-images", type=int, default=100)
    parser.add_argument("--out", default=None)
    args = parser.parse_args()
    torch.set_num_threads(os.cpu_count() or 1)
    results = {}
    for name in args.problems.split(","):
        results[name] = {"decode": bench_decode, "metrics": bench_metrics}[name](args)
        print(json.dumps({name: results[name]}, indent=1), flush=True)
    if args.out:
        with open(args.out, "w") as fh:
            json.dump(results, fh, indent=1)


if __name__ == "__main__":
    main()

"""Benchmark: the encoding engine against himalaya, scikit-learn and an explicit lagged design.

Three problems, each timed side by side in one run (1 warm-up, then ``--repeats`` timed runs,
``torch.cuda.synchronize`` around each; the median is reported):

* ``fmri``: n=3000 training samples, p=4096 features, 80,000 targets, 20 alphas, 5 contiguous
  folds, float32 on the GPU, data already on the GPU. Ours (:func:`ridge_cv`, dual route picked
  from the shapes, eigendecompositions in float64, products in float32 or TF32) against himalaya
  ``RidgeCV`` and ``KernelRidgeCV`` with the ``torch_cuda`` backend, same folds and alphas.
  Agreement: per-target |delta r| on 1000 held-out samples and the share of targets given the
  same alpha (also with ties, alphas whose CV scores differ by < 1e-4 relative, excluded).
* ``meg``: one hour at 100 Hz (360,000 samples), 256 features x 41 lags, 300 sensors, 5
  contiguous blocks, 20 alphas. Ours (:func:`lag_ridge_cv`) in float32 and float64; the lagged
  Gram against ``D.T @ D`` of the explicit delayed design (15 GB).
* ``floor``: the fMRI problem's lower bound: its six eigendecompositions (also when run on a
  side stream beside the products) plus its products' FLOPs at the measured float32 / TF32 rates.
* ``cpu``: a smaller problem on the CPU: ours (torch, float64) against scikit-learn ``Ridge``
  refit per fold and alpha (the same CV) and ``RidgeCV(alpha_per_target=True)`` (efficient
  leave-one-out, a different CV).

Usage::

    python benchmarks/encoding.py --problems fmri,meg,cpu --out encoding.json
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np
import torch

from neuroalign.encoding.backend import matmul_precision
from neuroalign.encoding.cv import block_folds, block_labels
from neuroalign.encoding.lagged import lag_ridge_cv, lagged_gram
from neuroalign.encoding.ridge import cv_scores, ridge_cv


def sync() -> None:
    if torch.cuda.is_available():
        torch.cuda.synchronize()


def timed(fn, repeats: int, warmup: bool = True) -> tuple[object, list[float], float]:
    """Return the last result, the timed durations (s) and peak GPU memory (GB)."""
    if warmup:
        fn()
    sync()
    if torch.cuda.is_available():
        torch.cuda.reset_peak_memory_stats()
    times, out = [], None
    for _ in range(repeats):
        sync()
        start = time.perf_counter()
        out = fn()
        sync()
        times.append(time.perf_counter() - start)
    peak = torch.cuda.max_memory_allocated() / 1e9 if torch.cuda.is_available() else 0.0
    return out, times, peak


def summary(times: list[float]) -> dict[str, float]:
    q1, med, q3 = np.percentile(times, [25, 50, 75])
    return {"median_s": float(med), "iqr_s": float(q3 - q1), "n": len(times)}


def pearson_gpu(Y: torch.Tensor, P: torch.Tensor) -> np.ndarray:
    Y = Y - Y.mean(0)
    P = P - P.mean(0)
    r = (Y * P).sum(0) / torch.sqrt((Y * Y).sum(0) * (P * P).sum(0))
    return r.double().cpu().numpy()


def planted_fmri(n, n_test, p, t, device, seed=0):
    g = torch.Generator(device=device).manual_seed(seed)
    X = torch.randn(n + n_test, p, device=device, generator=g)
    snr = torch.logspace(-2, 0, t, device=device)
    W = torch.randn(p, t, device=device, generator=g) * torch.sqrt(snr / p)
    Y = X @ W + torch.randn(n + n_test, t, device=device, generator=g)
    return X[:n], Y[:n], X[n:], Y[n:]


def bench_fmri(args, out):
    from himalaya.backend import set_backend
    from himalaya.kernel_ridge import KernelRidgeCV
    from himalaya.ridge import RidgeCV

    device = args.device
    n, p, t = args.n, args.p, args.t
    X, Y, Xte, Yte = planted_fmri(n, 1000, p, t, device)
    alphas = np.logspace(-1, 8, args.n_alphas)
    folds = block_folds(n, args.folds)
    options = dict(
        fit_intercept=True,
        widen_fraction=None,
        device=device,
        dtype="float32",
        n_targets_batch=args.batch,
    )
    results = {}

    def ours(**extra):
        return lambda: ridge_cv(X, Y, alphas, folds, **options, **extra)

    variants = {  # name: (options, float32 matmul precision of the whole call)
        "ours_fp32": ({}, "highest"),  # weights copied to host memory (numpy)
        "ours_fp32_device": ({"keep_on_device": True}, "highest"),  # left on the GPU, as himalaya
        "ours_tf32_scoring_device": ({"keep_on_device": True, "tf32_scoring": True}, "highest"),
        "ours_tf32_everywhere_device": ({"keep_on_device": True}, "high"),
    }
    fits = {}
    for name, (extra, level) in variants.items():
        with matmul_precision(level):
            fits[name], times, peak = timed(ours(**extra), args.repeats)
        results[name] = {**summary(times), "peak_gb": peak, "route": fits[name].route}
    fit = fits["ours_fp32"]

    def test_r(coef, intercept):
        coef = torch.as_tensor(coef, device=device, dtype=torch.float32)
        b = torch.as_tensor(intercept, device=device, dtype=torch.float32)
        return pearson_gpu(Yte, Xte @ coef + b)

    r_ours = test_r(fit.coef, fit.intercept)
    r_variants = {name: test_r(f.coef, f.intercept) for name, f in fits.items()}
    for name, f in fits.items():
        results[name]["max_abs_delta_r_vs_fp32"] = float(np.max(np.abs(r_variants[name] - r_ours)))
        results[name]["same_alpha_vs_fp32"] = float(np.mean(f.best_alphas == fit.best_alphas))
    set_backend("torch_cuda" if device == "cuda" else "torch", on_error="raise")
    references = {
        "himalaya_RidgeCV": lambda: RidgeCV(alphas=alphas, cv=folds, fit_intercept=True).fit(X, Y),
        "himalaya_KernelRidgeCV": lambda: KernelRidgeCV(
            alphas=alphas, cv=folds, kernel="linear", fit_intercept=True
        ).fit(X, Y),
    }
    anchors = {}  # the two himalaya solvers against each other
    for name, fn in references.items():
        model, times, peak = timed(fn, args.ref_repeats)
        if name == "himalaya_RidgeCV":
            coef, intercept = model.coef_, model.intercept_
        else:
            Xc = X - X.mean(0)
            coef, intercept = (
                Xc.T @ torch.as_tensor(model.dual_coef_, device=device),
                model.intercept_,
            )
        r_ref = test_r(
            torch.as_tensor(coef).cpu().numpy(), torch.as_tensor(intercept).cpu().numpy()
        )
        ref_alphas = torch.as_tensor(model.best_alphas_).cpu().numpy()
        same = np.isclose(ref_alphas, fit.best_alphas, rtol=1e-4)
        idx_ref = np.abs(np.log10(ref_alphas)[:, None] - np.log10(alphas)[None]).argmin(1)
        best = fit.cv_scores.max(0)
        at_ref = fit.cv_scores[idx_ref, np.arange(t)]
        tie = np.abs(best - at_ref) <= 1e-4 * np.abs(best)
        delta = np.abs(r_ref - r_ours)
        results[name] = {
            **summary(times),
            "peak_gb": peak,
            **{
                f"speedup_{ours_name}": float(np.median(times) / results[ours_name]["median_s"])
                for ours_name in variants
            },
            "max_abs_delta_r": float(delta.max()),
            "p999_abs_delta_r": float(np.quantile(delta, 0.999)),
            "same_alpha": float(same.mean()),
            "same_alpha_ties_excluded": float(same[~tie | same].mean()),
            "n_ties": int((tie & ~same).sum()),
        }
        for variant, f in fits.items():  # every variant against this reference
            delta_v = np.abs(r_ref - r_variants[variant])
            same_v = np.isclose(ref_alphas, f.best_alphas, rtol=1e-4)
            results[name][f"{variant}_max_abs_delta_r"] = float(delta_v.max())
            results[name][f"{variant}_max_abs_delta_r_same_alpha"] = float(delta_v[same_v].max())
            results[name][f"{variant}_same_alpha"] = float(same_v.mean())
        anchors[name] = (r_ref, ref_alphas)
        del model
        torch.cuda.empty_cache()
    (r_a, alpha_a), (r_b, alpha_b) = anchors.values()
    same_ab = np.isclose(alpha_a, alpha_b, rtol=1e-4)
    results["himalaya_RidgeCV_vs_KernelRidgeCV"] = {
        "same_alpha": float(same_ab.mean()),
        "max_abs_delta_r": float(np.abs(r_a - r_b).max()),
        "max_abs_delta_r_same_alpha": float(np.abs(r_a - r_b)[same_ab].max()),
    }
    out["fmri"] = {
        "n": n,
        "p": p,
        "t": t,
        "n_alphas": len(alphas),
        "folds": args.folds,
        "batch": args.batch,
        **results,
    }


def bench_fmri_devices(args, out):
    """The fMRI reference problem on one GPU and with its targets split between ``--devices``
    (one thread per device), side by side: times, speedup, identical alphas."""
    devices = args.devices.split(",")
    n, p, t = args.n, args.p, args.t
    X, Y, _, _ = planted_fmri(n, 1000, p, t, devices[0])
    X, Y = X.cpu(), Y.cpu()  # both runs move their share from host memory
    alphas = np.logspace(-1, 8, args.n_alphas)
    folds = block_folds(n, args.folds)
    options = dict(fit_intercept=True, widen_fraction=None, dtype="float32")
    options["n_targets_batch"] = args.batch
    one, t_one, _ = timed(
        lambda: ridge_cv(X, Y, alphas, folds, device=devices[0], **options), args.repeats
    )
    split, t_split, _ = timed(
        lambda: ridge_cv(X, Y, alphas, folds, devices=devices, **options), args.repeats
    )
    out["fmri_devices"] = {
        "devices": devices,
        "one_device": summary(t_one),
        "split": summary(t_split),
        "speedup": float(np.median(t_one) / np.median(t_split)),
        "identical_alphas": bool(np.array_equal(one.best_alphas, split.best_alphas)),
        "max_coef_diff": float(np.abs(one.coef - split.coef).max()),
    }


def bench_breakdown(args, out):
    """Where the fMRI time goes: eigendecompositions, CV products, refit; precision variants."""
    from neuroalign.encoding.ridge import refit

    device = args.device
    res = {"eigh": {}}
    libraries = ["default"]
    try:
        torch.backends.cuda.preferred_linalg_library("magma")
        libraries.append("magma")
    except RuntimeError:
        pass
    finally:
        torch.backends.cuda.preferred_linalg_library("default")
    for lib in libraries:
        torch.backends.cuda.preferred_linalg_library(lib)
        try:
            for size in (int(v) for v in args.eigh_sizes.split(",")):
                A = torch.randn(size, args.p, device=device)
                for dtype in (torch.float32, torch.float64):
                    K = (A @ A.T).to(dtype)
                    _, times, _ = timed(lambda K=K: torch.linalg.eigh(K), 3)
                    res["eigh"][f"{lib}_{size}_{str(dtype)[6:]}"] = float(np.median(times))
        finally:
            torch.backends.cuda.preferred_linalg_library("default")
    n, p, t = args.n, args.p, args.t
    X, Y, Xte, Yte = planted_fmri(n, 1000, p, t, device)
    alphas = np.logspace(-1, 8, args.n_alphas)
    folds = block_folds(n, args.folds)
    base = dict(fit_intercept=True, device=device, dtype="float32", n_targets_batch=args.batch)
    _, times, _ = timed(lambda: cv_scores(X, Y, alphas, folds, **base), 2)
    res["cv_scores_fp64_decomp_s"] = float(np.median(times))
    _, times, _ = timed(lambda: cv_scores(X, Y, alphas, folds, tf32_scoring=True, **base), 2)
    res["cv_scores_tf32_scoring_s"] = float(np.median(times))
    best = alphas[np.zeros(t, int) + 10]
    _, times, _ = timed(lambda: refit(X, Y, best, **base), 2)
    res["refit_fp64_decomp_s"] = float(np.median(times))
    _, times, _ = timed(lambda: refit(X, Y, best, keep_on_device=True, **base), 2)
    res["refit_kept_on_device_s"] = float(np.median(times))
    coef = torch.randn(p, t, device=device)
    _, times, _ = timed(lambda: coef.cpu().numpy(), 2)
    res["coef_to_host_s"] = float(np.median(times))

    def test_r(fit):
        W = torch.as_tensor(fit.coef, device=device)
        b = torch.as_tensor(fit.intercept, device=device)
        return pearson_gpu(Yte, Xte @ W + b)

    reference = ridge_cv(X, Y, alphas, folds, widen_fraction=None, **base)
    r_ref = test_r(reference)
    for name, precision, decomp in (
        ("fp32_decomp32", "highest", "float32"),
        ("tf32_decomp32", "high", "float32"),
    ):
        with matmul_precision(precision):
            fit, times, _ = timed(
                lambda decomp=decomp: ridge_cv(
                    X, Y, alphas, folds, widen_fraction=None, decomp_dtype=decomp, **base
                ),
                args.repeats,
            )
        delta = np.abs(test_r(fit) - r_ref)
        res[name] = {
            **summary(times),
            "max_abs_delta_r_vs_decomp64": float(delta.max()),
            "same_alpha_vs_decomp64": float(np.mean(fit.best_alphas == reference.best_alphas)),
        }
    out["breakdown"] = res


def bench_floor(args, out):
    """The fMRI problem's floor: eigendecompositions plus the products at the measured rates.

    The six eigendecompositions (five folds, one refit) run one after another, also when put on
    their own CUDA stream beside the products (cuSOLVER's ``syevd`` synchronizes), so the floor
    is their time plus the products' FLOPs at the rate of the scoring product's shape.
    """
    import threading

    device = args.device
    if device != "cuda":
        raise SystemExit("The floor problem needs a CUDA GPU (--device cuda).")
    n, p, t, k = args.n, args.p, args.t, args.folds
    X, *_ = planted_fmri(n, 1, p, 8, device)
    folds = block_folds(n, k)
    kernels = []
    for idx in [tr for tr, _ in folds] + [np.arange(n)]:
        Xc = X[torch.as_tensor(idx, device=device)]
        Xc = (Xc - Xc.mean(0)).double()
        kernels.append(Xc @ Xc.T)
    _, t_eigh, _ = timed(lambda: [torch.linalg.eigh(K) for K in kernels], 3)
    _, t_vals, _ = timed(lambda: [torch.linalg.eigvalsh(K) for K in kernels], 3)
    n_test, n_train = n // k, n - n // k
    A = torch.randn(args.n_alphas * n_test, n_train, device=device)
    B = torch.randn(n_train, args.batch, device=device)
    rates = {}
    for level in ("highest", "high"):
        with matmul_precision(level):
            _, times, _ = timed(lambda: A @ B, 5)
        rates[level] = 2 * A.shape[0] * A.shape[1] * B.shape[1] / np.median(times)
    n_products = max(1, round(0.4 / (np.median(times) or 1)))
    side_eigh, side_mm = torch.cuda.Stream(), torch.cuda.Stream()

    def products():
        with torch.cuda.stream(side_mm), matmul_precision("high"):
            for _ in range(n_products):
                A @ B

    def both():
        def eighs():
            with torch.cuda.stream(side_eigh):
                for K in kernels:
                    torch.linalg.eigh(K)

        worker = threading.Thread(target=eighs)
        worker.start()
        products()
        worker.join()

    _, t_products, _ = timed(products, 3)
    _, t_both, _ = timed(both, 3)
    flops = {  # the dual route's products, per the module docstring of neuroalign.encoding.ridge
        "scoring": 2 * k * args.n_alphas * n_test * n_train * t,
        "train_projections": 2 * k * n_train * n_train * t,
        "test_cross": 2 * k * n_test * n_train * t,
        "refit": 2 * n * n * t + 2 * p * n * t,
    }
    total = sum(flops.values())
    eigh_s = float(np.median(t_eigh))
    out["floor"] = {
        "eigh_6_s": eigh_s,
        "eigvalsh_6_s": float(np.median(t_vals)),
        "overlap": {
            "eighs_s": eigh_s,
            "products_s": float(np.median(t_products)),
            "both_on_side_streams_s": float(np.median(t_both)),
        },
        "rate_tflops": {key: value / 1e12 for key, value in rates.items()},
        "product_tflop": {key: value / 1e12 for key, value in flops.items()},
        "floor_fp32_s": eigh_s + total / rates["highest"],
        "floor_tf32_s": eigh_s + total / rates["high"],
        "floor_3xtf32_s": eigh_s + 3 * total / rates["high"],
    }


def bench_meg(args, out):
    device = args.device
    n, p0, t, n_lags = args.meg_n, args.meg_p, args.meg_t, args.meg_lags
    g = torch.Generator(device=device).manual_seed(1)
    X = torch.zeros(n, p0, device=device)
    onsets = torch.randperm(n, device=device, generator=g)[: n // 33]  # ~3 words per second
    X[onsets] = torch.randn(onsets.numel(), p0, device=device, generator=g)
    lags = np.arange(n_lags)
    trf = torch.randn(n_lags, p0, t, device=device, generator=g) * 0.02
    Y = torch.randn(n, t, device=device, generator=g)
    for k, lag in enumerate(lags):
        Y[lag:] += X[: n - lag] @ trf[k]
    alphas = np.logspace(-1, 6, args.n_alphas)
    segments = block_labels(n, args.folds)
    results = {}
    for dtype in ("float32", "float64"):
        Xd, Yd = X.to(getattr(torch, dtype)), Y.to(getattr(torch, dtype))

        def run(Xd=Xd, Yd=Yd, dtype=dtype):
            return lag_ridge_cv(
                Xd, Yd, lags, alphas, segments, scoring="r", device=device, dtype=dtype
            )

        fit, times, peak = timed(
            run,
            args.repeats if dtype == "float32" else 1,
            warmup=dtype == "float32",
        )
        results[dtype] = {**summary(times), "peak_gb": peak, "fit": fit}
    f32, f64 = results["float32"].pop("fit"), results["float64"].pop("fit")
    results["float32"]["max_abs_delta_cv_r_vs_fp64"] = float(
        np.max(np.abs(f32.cv_scores.max(0) - f64.cv_scores.max(0)))
    )
    results["float32"]["same_alpha_vs_fp64"] = float(np.mean(f32.best_alphas == f64.best_alphas))
    results["float32"]["mean_cv_r"] = float(f32.cv_scores.max(0).mean())
    del Y, trf
    torch.cuda.empty_cache()
    # the Gram alone: lagged products vs the explicit delayed design
    _, lag_times, _ = timed(lambda: lagged_gram(X, lags, device=device, dtype="float32"), 3)

    def explicit():
        D = torch.zeros(n, n_lags * p0, device=device)
        for k, lag in enumerate(lags):
            D[lag:, k * p0 : (k + 1) * p0] = X[: n - lag]
        return (D.T @ D).cpu().numpy()

    G_exp, exp_times, exp_peak = timed(explicit, 1, warmup=False)
    G_lag = lagged_gram(X.double(), lags, device=device, dtype="float64")
    results["gram"] = {
        "lagged_median_s": float(np.median(lag_times)),
        "explicit_median_s": float(np.median(exp_times)),
        "explicit_peak_gb": exp_peak,
        "speedup": float(np.median(exp_times) / np.median(lag_times)),
        "max_rel_diff_explicit_fp32_vs_lagged_fp64": float(
            np.abs(G_exp - G_lag).max() / np.abs(G_lag).max()
        ),
    }
    out["meg"] = {
        "n": n,
        "p0": p0,
        "n_lags": n_lags,
        "t": t,
        "n_alphas": len(alphas),
        "folds": args.folds,
        **results,
    }


def bench_cpu(args, out):
    from sklearn.linear_model import Ridge
    from sklearn.linear_model import RidgeCV as SkRidgeCV

    rng = np.random.default_rng(2)
    n, p, t = args.cpu_n, args.cpu_p, args.cpu_t
    X = rng.standard_normal((n, p))
    Y = X @ (rng.standard_normal((p, t)) * np.sqrt(np.logspace(-2, 0, t) / p))
    Y += rng.standard_normal((n, t))
    alphas = np.logspace(-1, 8, args.n_alphas)
    folds = block_folds(n, args.folds)

    def ours():
        return ridge_cv(X, Y, alphas, folds, widen_fraction=None, device="cpu", dtype="float64")

    def brute():
        scores = np.zeros((len(alphas), t))
        for i, a in enumerate(alphas):
            for tr, te in folds:
                pred = Ridge(alpha=a).fit(X[tr], Y[tr]).predict(X[te])
                scores[i] -= ((Y[te] - pred) ** 2).mean(0)
        best = alphas[scores.argmax(0)]
        coef = np.zeros((p, t))
        for a in np.unique(best):
            cols = best == a
            coef[:, cols] = Ridge(alpha=a).fit(X, Y[:, cols]).coef_.reshape(-1, p).T
        return best, coef

    fit, t_ours, _ = timed(ours, 3)
    (best, coef), t_brute, _ = timed(brute, 1, warmup=False)
    gcv = SkRidgeCV(alphas=alphas, alpha_per_target=True)
    _, t_gcv, _ = timed(lambda: gcv.fit(X, Y), 1, warmup=False)
    scores, _ = cv_scores(X, Y, alphas, folds)
    out["cpu"] = {
        "n": n,
        "p": p,
        "t": t,
        "threads": torch.get_num_threads(),
        "ours": summary(t_ours),
        "sklearn_ridge_same_cv": summary(t_brute),
        "sklearn_ridgecv_gcv": summary(t_gcv),
        "speedup_vs_same_cv": float(np.median(t_brute) / np.median(t_ours)),
        "speedup_vs_gcv": float(np.median(t_gcv) / np.median(t_ours)),
        "same_alpha_vs_same_cv": float(np.mean(best == fit.best_alphas)),
        "max_abs_coef_diff": float(np.abs(coef - fit.coef).max()),
        "scores_shape": list(scores.shape),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--problems", default="fmri,meg,cpu")
    parser.add_argument(
        "--device", default="cuda", help="cuda (the benchmark) or cpu (a smoke test)"
    )
    parser.add_argument("--n", type=int, default=3000)
    parser.add_argument("--p", type=int, default=4096)
    parser.add_argument("--t", type=int, default=80000)
    parser.add_argument("--batch", type=int, default=20000, help="targets per chunk (ours)")
    parser.add_argument("--n-alphas", type=int, default=20)
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--ref-repeats", type=int, default=3)
    parser.add_argument("--eigh-sizes", default="2400,3000", help="breakdown: eigh sizes")
    parser.add_argument("--meg-n", type=int, default=360_000)
    parser.add_argument("--meg-p", type=int, default=256)
    parser.add_argument("--meg-t", type=int, default=300)
    parser.add_argument("--meg-lags", type=int, default=41)
    parser.add_argument("--cpu-n", type=int, default=2000)
    parser.add_argument("--cpu-p", type=int, default=1000)
    parser.add_argument("--cpu-t", type=int, default=5000)
    parser.add_argument(
        "--devices", default="cuda:0,cuda:1", help="fmri_devices: the devices to split over"
    )
    parser.add_argument("--out", default=None, help="JSON file for the results")
    args = parser.parse_args()
    out = {
        "torch": torch.__version__,
        "device": torch.cuda.get_device_name(0) if torch.cuda.is_available() else "cpu",
    }
    for name in args.problems.split(","):
        start = time.perf_counter()
        problems = {
            "fmri": bench_fmri,
            "fmri_devices": bench_fmri_devices,
            "meg": bench_meg,
            "cpu": bench_cpu,
            "breakdown": bench_breakdown,
            "floor": bench_floor,
        }
        problems[name](args, out)
        out[name]["wall_s"] = time.perf_counter() - start
        print(json.dumps({name: out[name]}, indent=1), flush=True)
        if args.out:  # after every problem, so a run cut short keeps what it finished
            with open(args.out, "w") as fh:
                json.dump(out, fh, indent=1)


if __name__ == "__main__":
    main()

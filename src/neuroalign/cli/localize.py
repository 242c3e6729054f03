"""``neuroalign localize``: language-selective (or MD, ToM, custom) units of a model."""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

from neuroalign._check import NeuroalignError

logger = logging.getLogger(__name__)

DTYPES = ("auto", "float32", "bfloat16", "float16")


def _floats(text: str) -> tuple[float, ...]:
    try:
        values = tuple(float(x) for x in text.split(",") if x.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a comma-separated list of numbers"
        ) from None
    if not values:
        raise argparse.ArgumentTypeError("give at least one number")
    return values


def _names(text: str) -> tuple[str, ...]:
    return tuple(x.strip() for x in text.split(",") if x.strip())


def add_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Register the ``localize`` subcommand."""
    parser = subparsers.add_parser(
        "localize",
        help="find selective units of a model with a functional localizer, ablate and align them",
        description="Run a model over a localizer's two conditions (language: sentences vs "
        "non-word lists; md: hard vs easy arithmetic; tom: false belief vs false photograph; "
        "custom: a CSV text,condition,split), compute per-unit Welch t, p, FDR q and Cohen's "
        "d, select units, draw equal-size random control sets, measure run-split reliability, "
        "and optionally lesion the units (held-out task deficits vs random sets) and compare "
        "their brain alignment with random sets. Writes one netCDF file.",
    )
    parser.add_argument(
        "--model", required=True, help="model source: hf:<id>[@revision], path:<dir> or pypi:<pkg>"
    )
    parser.add_argument(
        "--localizer", required=True, choices=("language", "md", "tom", "custom"), help="contrast"
    )
    parser.add_argument(
        "--stimuli",
        required=True,
        type=Path,
        help="localizer stimuli: the langloc CSV folder, the arithmetic CSV, the ToM folder, "
        "or a custom CSV with columns text, condition, split",
    )
    parser.add_argument("--output", required=True, type=Path, help="result file (.nc)")
    parser.add_argument("--positive", help="positive condition label of a custom CSV")
    group = parser.add_argument_group("activations")
    group.add_argument(
        "--units",
        default="resid",
        choices=("resid", "attn_out", "mlp_out", "mlp_neuron", "head_out"),
        help="unit space (default: resid, the residual stream after each block)",
    )
    group.add_argument(
        "--pooling",
        default="auto",
        choices=("auto", "last", "mean"),
        help="token pooling (auto: last for language and custom, mean for md and tom)",
    )
    group.add_argument(
        "--truncate",
        type=int,
        default=12,
        help="keep the first N tokens, special tokens included (default 12; 0 keeps all)",
    )
    group.add_argument("--layers", default="all", help="'all' or comma-separated block indices")
    group.add_argument("--batch-size", type=int, default=32, help="items per forward pass")
    group.add_argument("--n-items", type=int, help="at most N items per condition and run")
    group = parser.add_argument_group("selection")
    stat = group.add_mutually_exclusive_group()
    stat.add_argument(
        "--absolute",
        dest="absolute",
        action="store_true",
        default=True,
        help="Welch t on |activation| (default; the LLM-language-network convention)",
    )
    stat.add_argument(
        "--raw",
        dest="absolute",
        action="store_false",
        help="Welch t on signed activations (the Brain-Score convention)",
    )
    group.add_argument(
        "--rule",
        default="global_topk",
        choices=("global_topk", "per_layer_topk", "fdr"),
        help="global top fraction over all layers (default), top fraction per layer, or FDR",
    )
    group.add_argument("--fraction", type=float, default=0.01, help="top fraction (0.01 = 1%%)")
    group.add_argument("--alpha", type=float, default=0.05, help="FDR level of --rule fdr")
    group.add_argument("--n-seeds", type=int, default=10, help="random control sets per scheme")
    group.add_argument("--seed", type=int, default=0, help="first random seed")
    group.add_argument(
        "--schemes",
        type=_names,
        default=("uniform", "layer_matched"),
        help="random-set schemes, comma-separated (uniform, layer_matched)",
    )
    group.add_argument("--bottom", action="store_true", help="also store the bottom-k mask")
    group.add_argument("--n-boot", type=int, default=100, help="bootstrap resamples (0: none)")
    group = parser.add_argument_group("ablation (held-out tasks)")
    group.add_argument("--blimp", type=Path, help="BLiMP.zip (minimal pairs)")
    group.add_argument("--paradigms", type=_names, help="BLiMP paradigms, comma-separated")
    group.add_argument("--n-pairs", type=int, default=20, help="pairs per BLiMP paradigm")
    group.add_argument("--corpus", type=Path, help="text file for next-word loss (causal LMs)")
    group.add_argument(
        "--n-control", type=int, default=200, help="items of the number-comparison probe"
    )
    group.add_argument(
        "--doses",
        type=_floats,
        default=(0.00125, 0.0025, 0.005, 0.01),
        help="fractions of units lesioned (default 0.00125,0.0025,0.005,0.01)",
    )
    group.add_argument("--ablation-mode", default="zero", choices=("zero", "mean"))
    group.add_argument("--ablation-scheme", default="uniform", choices=("uniform", "layer_matched"))
    group.add_argument(
        "--no-ablation", action="store_true", help="skip the ablation even if tasks are given"
    )
    group = parser.add_argument_group("brain alignment")
    group.add_argument(
        "--brain",
        type=Path,
        help="brain responses: the Pereira 2018 sentence-means CSV or a table with a text "
        "column and numeric response columns",
    )
    group.add_argument("--brain-columns", type=_names, help="response columns of a generic table")
    group = parser.add_argument_group("device")
    group.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda"))
    group.add_argument("--dtype", default="auto", choices=DTYPES, help="weights dtype")
    parser.set_defaults(func=run)
    return parser


def run(args: argparse.Namespace) -> None:
    """Run the localizer and print where the result went."""
    import torch

    from neuroalign.localize.pipeline import Settings
    from neuroalign.localize.run import Extraction, run_localizer

    if args.device == "cuda" and not torch.cuda.is_available():
        raise NeuroalignError("--device cuda: no CUDA GPU is visible; use --device cpu")
    device = (
        "cuda"
        if args.device == "cuda" or (args.device == "auto" and torch.cuda.is_available())
        else "cpu"
    )
    dtype = None if args.dtype == "auto" else getattr(torch, args.dtype)
    try:
        settings = Settings(
            absolute=args.absolute,
            rule=args.rule,
            fraction=args.fraction,
            alpha=args.alpha,
            n_seeds=args.n_seeds,
            seed=args.seed,
            schemes=tuple(args.schemes),
            bottom=args.bottom,
            n_boot=args.n_boot,
        )
    except ValueError as err:
        raise NeuroalignError(str(err)) from None
    extraction = Extraction(
        unit_space=args.units,
        pooling=args.pooling,
        truncate=args.truncate or None,
        layers=args.layers,
        batch_size=args.batch_size,
    )
    ablate = not args.no_ablation
    ds = run_localizer(
        args.model,
        args.localizer,
        args.stimuli,
        args.output,
        extraction=extraction,
        settings=settings,
        positive=args.positive,
        n_items=args.n_items,
        blimp=args.blimp if ablate else None,
        paradigms=args.paradigms,
        n_pairs=args.n_pairs,
        corpus=args.corpus if ablate else None,
        n_control=args.n_control if ablate else 0,
        doses=args.doses,
        ablation_mode=args.ablation_mode,
        ablation_scheme=args.ablation_scheme,
        brain=args.brain,
        brain_columns=args.brain_columns,
        dtype=dtype,
        device=device,
    )
    print(
        f"{args.output}: {ds.attrs['k']} {args.localizer} units "
        f"({ds.attrs['statistic']}, {ds.attrs['rule']}); run-split Dice "
        f"{float(ds['reliability_dice']):.3f} (chance {float(ds['reliability_chance_dice']):.3f})"
    )

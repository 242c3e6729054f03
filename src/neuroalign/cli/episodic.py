"""``neuroalign episodic``: induction heads vs human episodic memory.

Subcommands: ``human`` (free-recall curves, optionally with CMR fits), ``grid`` (the
token-sequence CMR grid), ``recovery`` (parameter recovery of the CMR fits), ``heads`` (head
scores, lag profiles, CMR fits, human comparison), ``ablate`` (head ablations), ``train`` (a
small transformer with checkpoints) and ``trajectory`` (heads across checkpoints).
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    """Register ``neuroalign episodic`` and its subcommands."""
    parser = subparsers.add_parser(
        "episodic",
        help="induction heads vs human episodic memory (scores, CMR fits, recall, ablation)",
        description="Compare attention heads of causal language models with human free recall: "
        "induction and lag profiles on token probes, token-sequence CMR fits, lag-CRPs of "
        "free-recall data, head ablations and emergence over training.",
    )
    sub = parser.add_subparsers(dest="action", metavar="<action>", required=True)

    human = sub.add_parser(
        "human",
        help="free-recall curves per subject from psifr-format CSVs",
        description="Read psifr-format free-recall CSVs (columns subject, list, position, "
        "trial_type, item) and write a netCDF with dims (dataset, subject, lag/position); with "
        "--grid, also fit each subject's and each group lag-CRP with the heads' token-sequence "
        "CMR on the heads' lags (fit_lag of --settings, lag 0 excluded).",
    )
    human.add_argument(
        "--data",
        required=True,
        nargs="+",
        metavar="NAME=CSV",
        help="datasets as name=path pairs, e.g. peers=peers_notask.csv",
    )
    human.add_argument("--grid", type=Path, default=None, help="CMR grid netCDF (from grid)")
    human.add_argument(
        "--settings",
        default=None,
        help=_SETTINGS_HELP.format(kind="heads") + " (only fit_lag is used)",
    )
    human.add_argument("--output", required=True, type=Path, help="netCDF file to write")
    human.set_defaults(func=_human)

    grid = sub.add_parser(
        "grid",
        help="simulate the token-sequence CMR lag curves on a parameter grid",
        description="Simulate Ji-An et al.'s token-sequence CMR at every (beta_enc, beta_rec, "
        "gamma_ft) grid point and write a netCDF (default: their 20 x 21 x 11 grid; hours "
        "on two cores, so it is cached by its own rule).",
    )
    grid.add_argument("--output", required=True, type=Path, help="netCDF file to write")
    grid.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    grid.add_argument(
        "--jobs", type=int, default=1, help="worker processes (default 1; same grid for any)"
    )
    grid.add_argument("--settings", default=None, help=_SETTINGS_HELP.format(kind="grid"))
    grid.set_defaults(func=_grid)

    rec = sub.add_parser(
        "recovery",
        help="recover CMR parameters from curves simulated at random interior points",
        description="Simulate token-sequence CMR curves at parameters drawn uniformly within "
        "bounds (with the grid's settings and a fresh seed), fit them back with the grid fit "
        "(lag 0 included) and the continuous fit (lag 0 excluded), and report the share of "
        "draws recovered within one grid step per parameter. Default bounds: the interior "
        "box beta_enc 0.3-0.9, beta_rec 0.3-0.95, gamma_ft 0-0.5.",
    )
    rec.add_argument("--grid", required=True, type=Path, help="CMR grid netCDF (from grid)")
    rec.add_argument("--draws", type=int, default=200, help="number of draws (default 200)")
    rec.add_argument("--seed", type=int, default=1, help="seed of the draws (default 1)")
    rec.add_argument("--fit-lag", type=int, default=5, help="fit window (default 5)")
    rec.add_argument(
        "--n-runs", type=int, default=None, help="runs per start item of a draw (default: grid's)"
    )
    for name in ("beta_enc", "beta_rec", "gamma_ft"):
        rec.add_argument(
            f"--{name.replace('_', '-')}",
            type=float,
            nargs=2,
            default=None,
            metavar=("LOW", "HIGH"),
            help=f"draw bounds of {name} (default: the interior box)",
        )
    rec.add_argument("--output", required=True, type=Path, help="netCDF file to write")
    rec.set_defaults(func=_recovery)

    heads = sub.add_parser(
        "heads",
        help="per-head scores, lag profiles, CMR fits and human comparison of a model",
        description="Run repeated and permuted-repeat token probes through a causal LM with "
        "eager attention and write per-head scores and lag profiles (dims probe, layer, head, "
        "lag), with CMR fits when --grid is given and human comparisons with --human.",
    )
    _model_args(heads)
    heads.add_argument("--grid", type=Path, default=None, help="CMR grid netCDF (from grid)")
    heads.add_argument("--human", type=Path, default=None, help="human netCDF (from human)")
    heads.add_argument("--output", required=True, type=Path, help="netCDF file to write")
    heads.set_defaults(func=_heads)

    abl = sub.add_parser(
        "ablate",
        help="ablate top induction / top CMR-like heads and matched random sets",
        description="Zero per-head slices of the attention output projection's input for the "
        "top-k heads by induction score, by CMR distance, and random sets with the same layer "
        "histogram; report repeated-sequence loss, ICL score and the output lag-CRP.",
    )
    _model_args(abl)
    abl.add_argument("--heads", required=True, type=Path, help="heads netCDF of this model")
    abl.add_argument("--corpus", type=Path, default=None, help="text file for the ICL score")
    abl.add_argument("--output", required=True, type=Path, help="netCDF file to write")
    abl.set_defaults(func=_ablate)

    train = sub.add_parser(
        "train",
        help="train a small transformer on repeated spans, saving checkpoints",
        description="Train a 2-layer Llama-style transformer on CPU on sequences of repeated "
        "random spans and save Hugging Face checkpoints <output>/step<N> (load them as "
        "path:<dir>/step<N>).",
    )
    train.add_argument("--output", required=True, type=Path, help="checkpoint directory")
    train.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    train.add_argument("--settings", default=None, help=_SETTINGS_HELP.format(kind="train"))
    train.set_defaults(func=_train)

    traj = sub.add_parser(
        "trajectory",
        help="stack heads netCDFs of several checkpoints (emergence over training)",
        description="Combine heads netCDFs of checkpoints, in the order given, along a "
        "'checkpoint' dim.",
    )
    traj.add_argument(
        "--heads", required=True, nargs="+", metavar="NAME=NC", help="checkpoint=heads.nc pairs"
    )
    traj.add_argument("--output", required=True, type=Path, help="netCDF file to write")
    traj.set_defaults(func=_trajectory)


_SETTINGS_HELP = (
    "JSON object (or .json file) with the config's episodic.{kind} settings; missing keys "
    "take their defaults"
)


def _model_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--model", required=True, help="model source: hf:<id>[@revision], path:<dir>, pypi:<pkg>"
    )
    parser.add_argument("--device", default="cpu", help="torch device (default cpu)")
    parser.add_argument("--settings", default=None, help=_SETTINGS_HELP.format(kind="heads"))


def _settings(text: str | None, cls: type) -> Any:
    from dataclasses import fields

    from neuroalign._check import NeuroalignError
    from neuroalign.cli._settings import read_settings

    if text is None:
        return cls()
    source = text if not text.lstrip().startswith("{") else "--settings"
    value = read_settings(text)
    known = {f.name for f in fields(cls)}
    unknown = sorted(set(value) - known)
    if unknown:
        raise NeuroalignError(
            f"{source}: unknown setting(s) {', '.join(unknown)}; known: {', '.join(sorted(known))}"
        )
    value = {k: tuple(v) if isinstance(v, list) else v for k, v in value.items()}
    return cls(**value)


def _pairs(values: list[str], flag: str) -> dict[str, Path]:
    from neuroalign._check import NeuroalignError

    out = {}
    for value in values:
        name, sep, path = value.partition("=")
        if not sep or not name or not path:
            raise NeuroalignError(f"{flag} {value!r}: write name=path, e.g. peers=peers.csv")
        out[name] = Path(path)
    return out


def _human(args: argparse.Namespace) -> None:
    from neuroalign.episodic.analysis import HeadConfig
    from neuroalign.episodic.outputs import human_dataset, write_netcdf

    data = _pairs(args.data, "--data")
    config = _settings(args.settings, HeadConfig)
    ds = human_dataset(data, grid=args.grid, fit_lag=config.fit_lag)
    write_netcdf(ds, args.output)
    print(f"wrote {args.output} ({', '.join(data)}; {ds.sizes['subject']} subjects)")


def _grid(args: argparse.Namespace) -> None:
    from dataclasses import asdict

    from neuroalign._io import provenance
    from neuroalign.episodic.cmr import GridSpec, cmr_grid
    from neuroalign.episodic.outputs import write_netcdf

    spec = _settings(args.settings, GridSpec)
    grid = cmr_grid(spec, seed=args.seed, jobs=args.jobs).to_dataset()
    grid.attrs.update(provenance(stage="episodic", config=asdict(spec), seed=args.seed))
    write_netcdf(grid, args.output)
    print(f"wrote {args.output}")


def _recovery(args: argparse.Namespace) -> None:
    import xarray as xr

    from neuroalign._io import provenance
    from neuroalign.episodic.outputs import write_netcdf
    from neuroalign.episodic.recovery import INTERIOR, PARAMETERS, parameter_recovery

    bounds = {p: tuple(getattr(args, p) or INTERIOR[p]) for p in PARAMETERS}
    grid = xr.load_dataset(args.grid)["cmr_curve"]
    ds = parameter_recovery(
        grid,
        n_draws=args.draws,
        seed=args.seed,
        fit_lag=args.fit_lag,
        n_runs=args.n_runs,
        bounds=bounds,
    )
    ds.attrs.update(
        provenance(stage="episodic", config={"bounds": bounds}, inputs={"grid": args.grid})
    )
    write_netcdf(ds, args.output)
    for fit in ("grid", "continuous"):
        rates = ", ".join(f"{p} {ds.attrs[f'rate_{fit}_{p}']:.2f}" for p in PARAMETERS)
        print(f"{fit} fit, share within one grid step: {rates}")


def _heads(args: argparse.Namespace) -> None:
    import numpy as np

    from neuroalign.episodic.analysis import HeadConfig
    from neuroalign.episodic.outputs import heads_file

    config = _settings(args.settings, HeadConfig)
    ds = heads_file(
        args.model, config, args.output, grid=args.grid, human=args.human, device=args.device
    )
    top = ds["induction_score"].sel(probe="repeat")
    layer, head = divmod(int(np.nanargmax(top.values)), top.sizes["head"])
    print(f"wrote {args.output}; top induction head L{layer}H{head} ({float(top.max()):.3f})")


def _ablate(args: argparse.Namespace) -> None:
    from neuroalign.episodic.analysis import HeadConfig
    from neuroalign.episodic.outputs import ablation_file

    config = _settings(args.settings, HeadConfig)
    ds = ablation_file(
        args.model, config, args.heads, args.output, corpus=args.corpus, device=args.device
    )
    loss = ds["effect"].sel(metric="repeat_loss")
    print(
        f"wrote {args.output}; repeat-loss effect of top induction heads "
        f"{float(loss.sel(condition='top_induction')):+.3f}"
    )


def _train(args: argparse.Namespace) -> None:
    from neuroalign.episodic.train import TrainSpec, train

    spec = _settings(args.settings, TrainSpec)
    paths = train(args.output, spec, seed=args.seed)
    print(f"wrote {len(paths)} checkpoints to {args.output}")


def _trajectory(args: argparse.Namespace) -> None:
    import xarray as xr

    from neuroalign.episodic.analysis import trajectory
    from neuroalign.episodic.outputs import write_netcdf

    pairs = _pairs(args.heads, "--heads")
    loaded = {name: xr.load_dataset(path) for name, path in pairs.items()}
    write_netcdf(trajectory(loaded), args.output)
    print(f"wrote {args.output} ({len(pairs)} checkpoints)")

"""``neuroalign episodic``: induction heads vs human episodic memory.

Subcommands: ``human`` (free-recall curves, optionally with CMR fits), ``grid`` (the
token-sequence CMR grid), ``recovery`` (parameter recovery of the CMR fits), ``heads`` (head
scores, lag profiles, CMR fits, human comparison), ``ablate`` (head ablations), ``train`` (a
small transformer with checkpoints) and ``trajectory`` (heads across checkpoints). Each calls
the step of the same name in `neuroalign.episodic.stage`.
"""

from __future__ import annotations

import argparse
from pathlib import Path

_SETTINGS_HELP = (
    "settings file (JSON): the config's episodic section, of which this step reads {part}; "
    "missing keys take their defaults"
)


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
        "CMR on the heads' lags (heads.fit_lag, lag 0 excluded).",
    )
    _settings_arg(human, "heads.fit_lag")
    human.add_argument(
        "--data",
        required=True,
        nargs="+",
        metavar="NAME=CSV",
        help="datasets as name=path pairs, e.g. peers=peers_notask.csv",
    )
    human.add_argument("--grid", type=Path, default=None, help="CMR grid netCDF (from grid)")
    human.add_argument("--output", required=True, type=Path, help="netCDF file to write")
    human.set_defaults(func=_human)

    grid = sub.add_parser(
        "grid",
        help="simulate the token-sequence CMR lag curves on a parameter grid",
        description="Simulate Ji-An et al.'s token-sequence CMR at every (beta_enc, beta_rec, "
        "gamma_ft) grid point and write a netCDF (default: their 20 x 21 x 11 grid; hours "
        "on two cores, so it is cached by its own rule).",
    )
    _settings_arg(grid, "grid and seed")
    grid.add_argument("--output", required=True, type=Path, help="netCDF file to write")
    grid.add_argument(
        "--jobs", type=int, default=1, help="worker processes (default 1; same grid for any)"
    )
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
    _settings_arg(rec, "recovery")
    rec.add_argument("--grid", required=True, type=Path, help="CMR grid netCDF (from grid)")
    rec.add_argument("--output", required=True, type=Path, help="netCDF file to write")
    rec.set_defaults(func=_recovery)

    heads = sub.add_parser(
        "heads",
        help="per-head scores, lag profiles, CMR fits and human comparison of a model",
        description="Run repeated and permuted-repeat token probes through a causal LM with "
        "eager attention and write per-head scores and lag profiles (dims probe, layer, head, "
        "lag), with CMR fits when --grid is given and human comparisons with --human.",
    )
    _settings_arg(heads, "heads (train_heads with --checkpoint) and device")
    _model_arg(heads)
    heads.add_argument("--grid", type=Path, default=None, help="CMR grid netCDF (from grid)")
    heads.add_argument("--human", type=Path, default=None, help="human netCDF (from human)")
    heads.add_argument(
        "--checkpoint",
        action="store_true",
        help="the model is a training checkpoint: analyse it with train_heads",
    )
    heads.add_argument("--output", required=True, type=Path, help="netCDF file to write")
    heads.set_defaults(func=_heads)

    abl = sub.add_parser(
        "ablate",
        help="ablate top induction / top CMR-like heads and matched random sets",
        description="Zero per-head slices of the attention output projection's input for the "
        "top-k heads by induction score, by CMR distance, and random sets with the same layer "
        "histogram; report repeated-sequence loss, ICL score and the output lag-CRP.",
    )
    _settings_arg(abl, "heads and device")
    _model_arg(abl)
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
    _settings_arg(train, "train and seed")
    train.add_argument("--output", required=True, type=Path, help="checkpoint directory")
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


def _settings_arg(parser: argparse.ArgumentParser, part: str) -> None:
    parser.add_argument(
        "--settings", type=Path, default=None, help=_SETTINGS_HELP.format(part=part)
    )


def _model_arg(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--model", required=True, help="model source: hf:<id>[@revision], path:<dir>, pypi:<pkg>"
    )


def _settings(args: argparse.Namespace):
    from neuroalign.episodic.settings import EpisodicSettings
    from neuroalign.settings import read_settings

    if args.settings is None:
        return EpisodicSettings.from_config({})
    return read_settings(EpisodicSettings, args.settings)


def _pairs(values: list[str], flag: str) -> dict[str, Path]:
    from neuroalign._check import NeuroalignError

    out = {}
    for value in values:
        name, sep, path = value.partition("=")
        if not sep or not name or not path:
            raise NeuroalignError(f"{flag} {value!r}: write name=path, e.g. peers=peers.csv")
        out[name] = Path(path)
    return out


def _done(output: Path) -> None:
    from neuroalign.episodic.stage import describe

    print(f"wrote {output}: {describe(output)}")


def _human(args: argparse.Namespace) -> None:
    from neuroalign.episodic import stage

    data = _pairs(args.data, "--data")
    _done(stage.human(_settings(args), data=data, output=args.output, grid=args.grid))


def _grid(args: argparse.Namespace) -> None:
    from neuroalign.episodic import stage

    _done(stage.grid(_settings(args), output=args.output, jobs=args.jobs))


def _recovery(args: argparse.Namespace) -> None:
    from neuroalign.episodic import stage

    _done(stage.recovery(_settings(args), grid=args.grid, output=args.output))


def _heads(args: argparse.Namespace) -> None:
    from neuroalign.episodic import stage

    output = stage.heads(
        _settings(args),
        model_source=args.model,
        output=args.output,
        grid=args.grid,
        human=args.human,
        checkpoint=args.checkpoint,
    )
    _done(output)


def _ablate(args: argparse.Namespace) -> None:
    from neuroalign.episodic import stage

    output = stage.ablate(
        _settings(args),
        model_source=args.model,
        heads=args.heads,
        output=args.output,
        corpus=args.corpus,
    )
    _done(output)


def _train(args: argparse.Namespace) -> None:
    from neuroalign.episodic import stage

    _done(stage.train(_settings(args), output=args.output))


def _trajectory(args: argparse.Namespace) -> None:
    from neuroalign.episodic import stage

    _done(stage.trajectory(heads=_pairs(args.heads, "--heads"), output=args.output))

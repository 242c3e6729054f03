"""Result datasets of the episodic stage, written atomically through `neuroalign.results`."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import xarray as xr

from neuroalign._io import provenance
from neuroalign.episodic.recall import recall_curves
from neuroalign.episodic.settings import HeadSettings
from neuroalign.results import load_netcdf, write_netcdf


def human_dataset(
    paths: Mapping[str, str | Path],
    *,
    grid: str | Path | None = None,
    fit_lag: int = 5,
) -> xr.Dataset:
    """Free-recall curves of several datasets on shared dims (dataset, subject, lag/position).

    Parameters
    ----------
    paths : mapping of str to path
        Dataset name to psifr-format CSV.
    grid : path, optional
        The heads' CMR grid netCDF; with it every subject's and group lag-CRP is also fitted
        with the token-sequence CMR (:func:`neuroalign.episodic.human_cmr.human_cmr`).
    fit_lag : int
        The heads' fit window (lags ``-fit_lag..fit_lag``, lag 0 excluded).

    Returns
    -------
    human : xarray.Dataset
        ``spc``, ``pfr`` (dataset, subject, position), ``crp``, ``crp_actual``,
        ``crp_possible`` (dataset, subject, lag), ``temporal_factor`` (dataset, subject);
        NaN where a dataset lacks a subject, position or lag. With ``grid``, ``cmr_*`` and
        ``cmr_fit_*`` (dataset, subject) and ``group_cmr_*``, ``group_cmr_fit_*`` (dataset).
        Provenance in attrs.
    """
    from neuroalign.data.readers.free_recall import read_free_recall
    from neuroalign.episodic.human_cmr import human_cmr

    parts = []
    for name, path in paths.items():
        curves = recall_curves(read_free_recall(path), dataset=name)
        curves = curves.assign_coords(subject=[f"{name}-{s}" for s in curves.subject.values])
        parts.append(curves.expand_dims(dataset=[name]).drop_attrs())
    merged = xr.concat(parts, dim="dataset", join="outer")
    inputs = {k: Path(v) for k, v in paths.items()}
    attrs = {}
    if grid is not None:
        fits = human_cmr(merged, load_grid(grid), fit_lag=fit_lag)
        merged = merged.merge(fits, combine_attrs="drop")
        attrs = fits.attrs
        inputs["cmr_grid"] = Path(grid)
    merged.attrs = {**provenance(stage="episodic", inputs=inputs), **attrs}
    return merged


def load_grid(path: str | Path) -> xr.DataArray:
    """The CMR grid's lag curves from a grid netCDF (`neuroalign episodic grid`)."""
    return load_netcdf(path, "CMR grid")["cmr_curve"]


def heads_file(
    model_spec: str,
    config: HeadSettings,
    output: str | Path,
    *,
    grid: str | Path | None = None,
    human: str | Path | None = None,
    device: str = "cpu",
) -> xr.Dataset:
    """Analyze a model's heads and write the result to netCDF (with provenance).

    Parameters
    ----------
    model_spec : str
        Model source.
    config : HeadSettings
        Analysis settings.
    output : path
        netCDF to write.
    grid, human : path, optional
        CMR grid and human netCDFs.
    device : str
        Torch device.

    Returns
    -------
    heads : xarray.Dataset
        What was written.
    """
    from neuroalign.episodic.analysis import analyze_heads

    model, arch, _, source, probes = _model_and_probes(model_spec, config, device)
    grid_da = load_grid(grid) if grid is not None else None
    human_ds = load_netcdf(human, "free-recall curves") if human is not None else None
    ds = analyze_heads(model, arch, probes, config, grid=grid_da, human=human_ds, device=device)
    inputs = {k: Path(v) for k, v in (("grid", grid), ("human", human)) if v is not None}
    return _write_model_result(ds, output, config, source, inputs, probe="repeat,permuted")


def ablation_file(
    model_spec: str,
    config: HeadSettings,
    heads: str | Path,
    output: str | Path,
    *,
    corpus: str | Path | None = None,
    k: int | None = None,
    n_random: int = 20,
    device: str = "cpu",
) -> xr.Dataset:
    """Run the head ablations of a model and write them to netCDF (with provenance).

    ``k`` defaults to 10% of the heads (at least 1). The ICL score uses documents of 512 tokens
    from ``corpus`` (loss at token 500 minus token 50), when the model has a tokenizer.
    """
    from neuroalign.episodic.analysis import corpus_documents, run_ablation

    model, arch, tokenizer, source, probes = _model_and_probes(model_spec, config, device)
    head_ds = load_netcdf(heads, "head analysis")
    k = k or max(1, round(0.1 * arch.n_layers * arch.n_heads))
    docs = None
    if corpus is not None and tokenizer is not None:
        docs = corpus_documents(tokenizer, Path(corpus).read_text(), 512, config.n_seq)
    ds = run_ablation(
        model,
        arch,
        head_ds,
        probes,
        config,
        k=k,
        n_random=n_random,
        docs=docs,
        seed=config.seed,
        device=device,
    )
    inputs = {"heads": Path(heads), **({"corpus": Path(corpus)} if corpus else {})}
    return _write_model_result(ds, output, config, source, inputs)


def _model_and_probes(model_spec: str, config: HeadSettings, device: str) -> tuple:
    """Load a causal LM; return it, its head layout, tokenizer, source and the probes."""
    from neuroalign.episodic.analysis import (
        check_probes_fit,
        load_causal_lm,
        make_probes,
        probe_tokens,
    )
    from neuroalign.models.discover import discover

    model, tokenizer, source = load_causal_lm(model_spec, device=device)
    arch = discover(model)
    vocab, bos_id, bos_kind = probe_tokens(model, tokenizer)
    probes = make_probes(config, vocab, bos_id, bos_kind)
    check_probes_fit(model, probes)
    return model, arch, tokenizer, source, probes


def _write_model_result(
    ds: xr.Dataset,
    output: str | Path,
    config: HeadSettings,
    source,
    inputs: Mapping[str, Path],
    **extra: str,
) -> xr.Dataset:
    """Add the provenance of a model's analysis (settings, inputs, model, revision) and write."""
    ds.attrs.update(
        provenance(
            stage="episodic",
            config=config.to_dict(),
            inputs=inputs,
            seed=config.seed,
            model=source.spec,
            revision=source.revision or "",
            **extra,
        )
    )
    write_netcdf(ds, output)
    return ds

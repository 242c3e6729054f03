"""The encode stage: encoding models from a model's activations to brain and reading data.

One function per kind of data, each taking an `EncodeSettings` (one ``encode`` entry of the
config) and paths, writing a netCDF result with provenance and returning its path:

- `encode_fmri` (:mod:`~neuroalign.encode.fmri`): story fMRI in BIDS, voxels as targets;
- `encode_meg` (:mod:`~neuroalign.encode.meg`): story MEG in BIDS, TRFs per sensor;
- `encode_meg_epochs` (:mod:`~neuroalign.encode.meg_epochs`): any BIDS MEG (KIT, FIF, CTF),
  word epochs, ridge per sensor and time window, held-out predictions per word;
- `encode_eyetracking` (:mod:`~neuroalign.encode.reading`): an interest-area report;
- `encode_sentences`, `encode_words` (:mod:`~neuroalign.encode.tables`): responses held in a
  stimulus table.

The fits are :mod:`neuroalign.encoding` (arrays only); this package does the file work around
them. Names are imported on first use, so ``import neuroalign.encode`` (the workflow's helpers in
:mod:`~neuroalign.encode.workflow`) loads no torch.

Examples
--------
>>> from neuroalign.encode import EncodeSettings
>>> settings = EncodeSettings.from_config(
...     {"kind": "meg", "dataset": "sim_meg", "stimset": "sim_meg_story", "models": ["minilm"]}
... )
>>> settings.options.n_perm, settings.grid.size
(200, 19)
"""

from __future__ import annotations

import importlib
from typing import Any

__all__ = [
    "EncodeSettings",
    "encode_eyetracking",
    "encode_fmri",
    "encode_meg",
    "encode_meg_epochs",
    "encode_sentences",
    "encode_words",
]

_WHERE = {
    "EncodeSettings": "settings",
    "encode_fmri": "fmri",
    "encode_meg": "meg",
    "encode_meg_epochs": "meg_epochs",
    "encode_eyetracking": "reading",
    "encode_sentences": "tables",
    "encode_words": "tables",
}


def __getattr__(name: str) -> Any:
    if name not in _WHERE:
        raise AttributeError(f"module 'neuroalign.encode' has no attribute {name!r}")
    return getattr(importlib.import_module(f"neuroalign.encode.{_WHERE[name]}"), name)

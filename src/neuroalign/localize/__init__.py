"""Functional localizers in language models: selective units, ablation and brain alignment.

The array functions (:mod:`~neuroalign.localize.stats`, :mod:`~neuroalign.localize.select`,
:mod:`~neuroalign.localize.reliability`, :mod:`~neuroalign.localize.alignment`) take activations
of shape (item, layer, unit) and know no model; :mod:`~neuroalign.localize.ablate` and
:mod:`~neuroalign.localize.evaluate` run models; :mod:`~neuroalign.localize.pipeline` ties them
together into one netCDF result per (model, localizer).
"""

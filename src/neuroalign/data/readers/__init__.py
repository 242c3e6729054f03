"""Readers for real file formats: one module per format.

Stimulus readers return stimulus tables (see :mod:`neuroalign.data.stimuli`); the others
(EyeLink, KIT, BLiMP, free recall) return the objects and tables later stages need.
"""

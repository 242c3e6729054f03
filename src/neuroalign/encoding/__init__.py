"""Encoding models: ridge engine, delays, resampling, cross-validation, ceilings."""

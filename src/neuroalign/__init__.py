"""neuroalign: neuro-AI alignment as a Python library and a Snakemake pipeline."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("neuroalign")
except PackageNotFoundError:  # running from a source tree that is not installed
    __version__ = "0.0.0+unknown"

__all__ = ["__version__"]

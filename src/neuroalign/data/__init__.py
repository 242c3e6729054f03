"""Datasets: manifests, fetching, readers, stimulus tables and simulated datasets."""

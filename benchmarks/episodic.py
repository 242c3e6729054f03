"""Time neuroalign's lag-CRP against psifr's (the reference) on the bundled free-recall data.

Usage: python benchmarks/episodic.py <free_recall folder>  (needs psifr installed)
Prints one line per dataset: our time, psifr's time and their ratio, after checking equality.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd


def main(folder: Path) -> None:
    from psifr import fr

    from neuroalign.data.readers.free_recall import read_free_recall
    from neuroalign.episodic.recall import recall_curves

    for name in ("peers_notask", "Morton2013"):
        path = folder / f"{name}.csv"
        data = read_free_recall(path)
        start = time.perf_counter()
        ours = recall_curves(data)
        t_ours = time.perf_counter() - start
        merged = fr.merge_free_recall(pd.read_csv(path))
        start = time.perf_counter()
        ref = fr.lag_crp(merged)
        t_ref = time.perf_counter() - start
        ref = ref.set_index(["subject", "lag"])["prob"]
        mine = ours.crp.to_series()
        mine.index = mine.index.set_levels(mine.index.levels[1].astype(float), level=1)
        same = np.allclose(ref, mine.reindex(ref.index), equal_nan=True)
        print(
            f"{name}: neuroalign {t_ours:.2f} s (spc, pfr, lag-CRP, temporal factor), "
            f"psifr lag_crp {t_ref:.2f} s, ratio {t_ours / t_ref:.2f}, equal={same}"
        )


if __name__ == "__main__":
    main(Path(sys.argv[1]))

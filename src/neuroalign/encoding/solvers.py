"""Registry of the ridge solvers: pure functions on arrays with explicit device and dtype.

=====================  ===============================================================
``"ridge_cv"``         one alpha per target, primal or dual route, spectral refit
``"banded_ridge_cv"``  one penalty per feature space and target (random search)
``"lag_ridge_cv"``     temporal response functions from a lagged Gram (n >> p)
=====================  ===============================================================
"""

from __future__ import annotations

from collections.abc import Callable

from neuroalign.encoding.banded import banded_ridge_cv
from neuroalign.encoding.lagged import lag_ridge_cv
from neuroalign.encoding.ridge import ridge_cv

SOLVERS: dict[str, Callable[..., object]] = {
    "ridge_cv": ridge_cv,
    "banded_ridge_cv": banded_ridge_cv,
    "lag_ridge_cv": lag_ridge_cv,
}

"""One BLAS / OpenMP thread per trading process.

The model's linear algebra is on tiny matrices (K states x a few features, a window of a few
hundred bars): a second thread only adds hand-offs. numpy and scipy each bring an OpenBLAS
with as many threads as cores, and many bots (or a dashboard and its backtests) share a few
cores, so those threads spin against each other. Measured on this 2-core machine: a 1,500-bar
walk-forward took 20.5 s with the default threads and 3.7 s with one.

The fitting stack (hmmlearn, scikit-learn, scipy) is imported only when a fit happens, after
this cap: the environment variables cap the pools of libraries loaded later, threadpoolctl
caps those already loaded.
"""

from __future__ import annotations

import os
from functools import cache

THREAD_ENV = ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")


@cache
def limit_math_threads() -> None:
    """Cap every loaded BLAS / OpenMP pool at one thread for the rest of the process (idempotent)."""
    for name in THREAD_ENV:
        os.environ[name] = "1"  # read by each BLAS / OpenMP runtime when it loads (scipy's, on the first fit)
    import numpy  # noqa: F401 (its pool exists from the first decision on)
    from threadpoolctl import threadpool_limits

    threadpool_limits(limits=1)

"""The trader's processes run their linear algebra on one thread (see trader/threads.py)."""

from __future__ import annotations

import subprocess
import sys


def test_a_bot_process_caps_every_blas_pool_at_one_thread() -> None:
    probe = (
        "from threadpoolctl import threadpool_info\n"
        "from trader.threads import limit_math_threads\n"
        "limit_math_threads()\n"
        "pools = threadpool_info()\n"
        "assert pools, 'no BLAS pool loaded'\n"
        "print(sorted({p['num_threads'] for p in pools}))\n"
    )
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True, timeout=120)
    assert out.stdout.strip() == "[1]"


def test_pools_the_fitting_stack_loads_after_the_cap_run_on_one_thread_too() -> None:
    probe = (
        "import sys\n"
        "from threadpoolctl import threadpool_info\n"
        "from trader.threads import limit_math_threads\n"
        "limit_math_threads()\n"
        "assert 'scipy' not in sys.modules, 'the fitting stack loads at the first fit, not before'\n"
        "import hmmlearn.hmm\n"
        "print(sorted({p['num_threads'] for p in threadpool_info()}), len(threadpool_info()))\n"
    )
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True, timeout=120)
    threads, pools = out.stdout.split("] ")
    assert threads == "[1" and int(pools) >= 2, out.stdout

"""Run a golden module in a child process whose floating point is pinned, and read what it prints.

OpenBLAS picks its kernels by CPU at start-up (``DYNAMIC_ARCH``), and so does numpy for its
own loops (``exp`` and ``log`` have AVX-512 versions): the same code fits models that differ
in the last bits on an AVX-512 server and on an AVX2 laptop, and the audit records those
bits. A golden run therefore pins OpenBLAS's kernel (``OPENBLAS_CORETYPE=Haswell``), turns
off numpy's AVX-512 loops (``NPY_DISABLE_CPU_FEATURES``; naming a feature the CPU lacks is
harmless), so both run their AVX2 code, which every x86-64 CPU since 2013 has, and uses one
thread, before numpy is imported: hence a child process. The golden files were written under
the same settings (``python -m <module> --write`` with ``PINNED_ENV`` exported); with only
OpenBLAS pinned they passed here and failed with numpy's AVX-512 loops turned off.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

PINNED_ENV = {
    "OPENBLAS_CORETYPE": "Haswell",
    "OPENBLAS_NUM_THREADS": "1",
    "OMP_NUM_THREADS": "1",
    "MKL_NUM_THREADS": "1",
    "NPY_DISABLE_CPU_FEATURES": "X86_V4 AVX512_ICL AVX512_SPR",
}
REPO = Path(__file__).resolve().parents[3]


def run_pinned(module: str) -> Any:
    """``python -m module`` under ``PINNED_ENV`` from the repo root; its stdout, parsed as JSON."""
    done = subprocess.run(
        [sys.executable, "-m", module],
        cwd=REPO,
        env={**os.environ, **PINNED_ENV},
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, f"{module} failed:\n{done.stderr[-3000:]}"
    return json.loads(done.stdout)

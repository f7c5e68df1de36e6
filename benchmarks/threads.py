"""Put every library on the same number of threads, and say what could not be controlled.

NumPy's BLAS is limited through threadpoolctl when it is installed (environment variables such
as OPENBLAS_NUM_THREADS are read only at start-up, and this benchmark never sets them);
PyTorch through torch.set_num_threads; XLA (JAX) through XLA_FLAGS, read when JAX starts
its CPU backend (the first computation, after this runs): one thread turns Eigen's thread
pool off, more leave XLA on every core.
"""

from __future__ import annotations

import os
import sys
from typing import Any


def set_threads(threads: int) -> tuple[Any, list[str]]:
    """Limit BLAS and PyTorch to `threads`; returns a handle to keep alive and a report."""
    report = []
    handle: Any = None
    try:
        import threadpoolctl
    except ImportError:
        report.append(
            f"NumPy BLAS: NOT controlled (threadpoolctl not installed); asked for "
            f"{threads}, OpenBLAS uses OPENBLAS_NUM_THREADS if set, else every core"
        )
    else:
        handle = threadpoolctl.threadpool_limits(limits=threads, user_api="blas")
        for info in threadpoolctl.threadpool_info():
            if info.get("user_api") == "blas":
                report.append(
                    f"{info.get('internal_api')} {info.get('version')} "
                    f"({info.get('prefix')}): {info.get('num_threads')} threads"
                )
    torch = sys.modules.get("torch")
    if torch is not None:
        torch.set_num_threads(threads)
        report.append(f"torch {torch.__version__}: {torch.get_num_threads()} intra-op threads")
    if "jax" in sys.modules:
        if threads == 1:
            flags = "--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1"
            os.environ["XLA_FLAGS"] = f"{os.environ.get('XLA_FLAGS', '')} {flags}".strip()
            report.append(f"XLA (jax {sys.modules['jax'].__version__}): 1 thread ({flags})")
        else:
            report.append(f"XLA (jax {sys.modules['jax'].__version__}): every core")
    return handle, report

"""One compute thread for the small networks and boosted trees of the baselines.

Small batches through a small network only contend on more threads (measured 5-40x slower on 2 busy cores), and
with torch's OpenMP runtime in the process, HistGradientBoosting on two threads was measured 1000x slower; one
thread gives the same arithmetic on every machine. The caller's settings are restored.
"""
from __future__ import annotations

from contextlib import contextmanager

import torch
from threadpoolctl import threadpool_limits


@contextmanager
def one_torch_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)


def one_openmp_thread():
    return threadpool_limits(limits=1, user_api="openmp")

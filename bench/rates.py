#!/usr/bin/python3
"""rates.py -- this machine's rates for make bench's floors (BENCH_ONLY=floors).

Prints one line of JSON, each figure the fastest of REPEAT (argument 1,
default 5) runs after an untimed one, measured with numpy (OpenBLAS on every core for dgemm):

  dgemm_gflops  double-precision matrix product, 3000 x 3000 by 3000 x 3000,
                on every core: 2 n^3 / t
  exp_ns        numpy's vectorised exp on one core, per element (10 million
                elements in [-50, 0], into a preallocated array)
  read_gbs      one core summing 512 MB of doubles: bytes / t
  cores         the cores this process may use
"""
import json
import os
import sys
import time

import numpy as np

REPEAT = int(sys.argv[1]) if len(sys.argv) > 1 else 5


def fastest(fn):
    fn()  # untimed: the first call also faults in its output's pages
    best = float("inf")
    for _ in range(REPEAT):
        t = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t)
    return best


rng = np.random.default_rng(0)
n = 3000
a, b = rng.random((n, n)), rng.random((n, n))
c = np.empty((n, n))
t_gemm = fastest(lambda: np.matmul(a, b, out=c))

x = -50.0 * rng.random(10_000_000)
y = np.empty_like(x)
t_exp = fastest(lambda: np.exp(x, out=y))

big = np.ones(64 * 1024 * 1024)
t_read = fastest(lambda: big.sum())

print(json.dumps({
    "dgemm_gflops": 2.0 * n ** 3 / t_gemm / 1e9,
    "exp_ns": t_exp / x.size * 1e9,
    "read_gbs": big.nbytes / t_read / 1e9,
    "cores": len(os.sched_getaffinity(0)),
}))

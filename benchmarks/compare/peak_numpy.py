#!/usr/bin/python3
"""float32 GEMM peak through numpy's BLAS (Debian: OpenBLAS) on THREADS threads, for comparison with GemmPeak's ONNX
Runtime figure: one JSON line, the median of REPS timed runs of at least SECONDS each.

  peak_numpy.py THREADS [SIZE] [REPS] [SECONDS]
"""
import os
import sys

threads = sys.argv[1]
for var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[var] = threads  # read when numpy loads its BLAS: set before the import
import json  # noqa: E402
import time  # noqa: E402

import numpy as np  # noqa: E402

size = int(sys.argv[2]) if len(sys.argv) > 2 else 2048
reps = int(sys.argv[3]) if len(sys.argv) > 3 else 5
seconds = float(sys.argv[4]) if len(sys.argv) > 4 else 1.0
rng = np.random.default_rng(3)
a = rng.standard_normal((size, size), dtype=np.float32)
b = rng.standard_normal((size, size), dtype=np.float32)
a @ b
rates = []
for _ in range(reps):
    runs, t0 = 0, time.perf_counter()
    while True:
        a @ b
        runs += 1
        elapsed = time.perf_counter() - t0
        if elapsed >= seconds:
            break
    rates.append(runs * 2.0 * size ** 3 / elapsed / 1e9)
blas = "unknown"
try:
    blas = os.path.realpath("/usr/lib/x86_64-linux-gnu/libblas.so.3")
except OSError:
    pass
print(json.dumps({"impl": "peak", "precision": "fp32", "kernel": "numpy matmul (" + os.path.basename(os.path.dirname(blas)) + ")",
                  "threads": int(threads), "size": size, "gflops": round(float(np.median(rates)), 1),
                  "reps": [round(r, 1) for r in rates], "numpy": np.__version__}))

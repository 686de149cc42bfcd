"""Loaded by a service process started with `python -m bench --gc-log` (this folder first on its
PYTHONPATH): logs every garbage collection longer than 5 ms (wall clock, generation, duration)
to $BENCH_GC_LOG/gc-<pid>.log. Nothing of the services is changed; the bench reads the logs."""

import gc
import os
import time

_folder = os.environ.get("BENCH_GC_LOG")
if _folder:
    _log = open(os.path.join(_folder, f"gc-{os.getpid()}.log"), "a", buffering=1)  # noqa: SIM115
    _started = [0.0]

    def _callback(phase, info):
        if phase == "start":
            _started[0] = time.perf_counter()
            return
        took = time.perf_counter() - _started[0]
        if took > 0.005:
            _log.write(f"{time.time() - took:.3f} {info['generation']} {took * 1000:.1f}\n")

    gc.callbacks.append(_callback)

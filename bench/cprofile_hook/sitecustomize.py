"""Profile every Python process started with ``SAMIZDAT_BENCH_CPROFILE=DIR`` and this directory on PYTHONPATH
(``bench/ingest_profile.py`` starts the relay so): cProfile (CPU time of the main thread) from start-up to exit,
written to ``DIR/<pid>.prof``. Only the main thread is profiled (the event loop's); the store's writer thread is
measured by its CPU time. ``SAMIZDAT_BENCH_GCSTATS=DIR``: the garbage collector's count and CPU time per
generation, written to ``DIR/<pid>.gc``."""

import os

_DIR = os.environ.get("SAMIZDAT_BENCH_CPROFILE")
if _DIR:
    import atexit
    import cProfile
    import time

    # The thread's CPU time, not the wall clock: on a shared machine a function's wall time includes the time its
    # process waited for a core (or for the GIL).
    # (SAMIZDAT_BENCH_CPROFILE_CLOCK=wall: the wall clock, which costs far less per call on this machine.)
    _wall = os.environ.get("SAMIZDAT_BENCH_CPROFILE_CLOCK") == "wall"
    _profile = cProfile.Profile(time.perf_counter if _wall else time.thread_time)

    def _dump() -> None:
        _profile.disable()
        _profile.dump_stats(os.path.join(_DIR, f"{os.getpid()}.prof"))

    atexit.register(_dump)
    _profile.enable()

_GC = os.environ.get("SAMIZDAT_BENCH_GCSTATS")
if _GC:
    import atexit
    import gc
    import time

    _gc_time = [0.0, 0.0, 0.0]
    _gc_count = [0, 0, 0]
    _gc_start = [0.0]

    def _gc_cb(phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            _gc_start[0] = time.thread_time()
        else:
            g = info["generation"]
            _gc_time[g] += time.thread_time() - _gc_start[0]
            _gc_count[g] += 1

    gc.callbacks.append(_gc_cb)

    def _gc_dump() -> None:
        with open(os.path.join(_GC, f"{os.getpid()}.gc"), "w") as f:
            f.write(f"{_gc_count} {[round(t, 3) for t in _gc_time]}\n")

    atexit.register(_gc_dump)

"""Profile every Python process started with ``SAMIZDAT_BENCH_CPROFILE=DIR`` and this directory on PYTHONPATH
(``bench/ingest_profile.py`` starts the relay so): cProfile (CPU time of the main thread) from start-up to exit, written to ``DIR/<pid>.prof``.
Only the main thread is profiled (the event loop's); the store's writer thread is measured by its CPU time."""

import os

_DIR = os.environ.get("SAMIZDAT_BENCH_CPROFILE")
if _DIR:
    import atexit
    import cProfile
    import time

    # The thread's CPU time, not the wall clock: on a shared machine a function's wall time includes the time its
    # process waited for a core (or for the GIL).
    _profile = cProfile.Profile(time.thread_time)

    def _dump() -> None:
        _profile.disable()
        _profile.dump_stats(os.path.join(_DIR, f"{os.getpid()}.prof"))

    atexit.register(_dump)
    _profile.enable()

"""Keep what a running process holds inside it: no core dump, no other process reading its memory.

A process that has unlocked an encrypted node holds its data key, the derived store keys and decrypted pages in
memory. Two ways would put them on disk, in the clear, outside the encrypted data directory:

- **a core dump.** A crash (a fault in a C library, SIGSEGV or SIGABRT sent to it) makes the kernel write the
  process's memory to a core file, in its working directory or, through ``core_pattern``, to systemd-coredump or
  apport, which keep it under ``/var/lib/systemd/coredump`` or ``/var/crash`` for days. ``RLIMIT_CORE = 0`` stops
  the kernel writing a file, and ``PR_SET_DUMPABLE = 0`` stops it handing the memory to a ``core_pattern`` pipe
  (systemd-coredump, apport) as well.
- **another process of the same user.** A program running as the same user (a browser exploit, a script) may
  read the process's memory through ``/proc/PID/mem`` or attach to it with ptrace (gdb, py-spy) when the process
  is "dumpable". ``PR_SET_DUMPABLE = 0`` leaves that to root (to a holder of CAP_SYS_PTRACE). ``/proc/PID/status``,
  ``stat`` and ``cmdline`` (the command's arguments) stay readable by everyone, as they always are.

- **another account on the machine** (a guest, a second user) copying the data directory's files while the node
  runs: a umask of 077 makes everything a ``samizdat`` process creates readable by its user only (0600 files,
  0700 folders).

:func:`harden` sets all three, at the start of every ``samizdat`` command and of every ``serve --workers`` worker (a
worker is a fresh interpreter: the dumpable flag does not survive ``exec``; the core limit does, and the parent
had set it to 0 before the worker got any key). Linux only; elsewhere it does nothing.

What it costs: a debugger or profiler (gdb, py-spy) attached to a running node needs root. A crash leaves no core
to debug; ``SAMIZDAT_DEBUG=1`` still shows tracebacks of Python errors.
"""

from __future__ import annotations

import ctypes
import os
import resource
import sys

__all__ = ["harden"]

_PR_SET_DUMPABLE = 4  # linux/prctl.h


def harden() -> None:
    """No core file and no dumpable memory for this process from now on (and no core file for its children);
    every file and folder it makes is its user's alone (umask 077: a data directory's databases and their WAL, an
    exported bundle, serve.json, the operator codes), whatever the shell's umask.

    Never raises: a system that refuses (no prctl, a seccomp filter) leaves the process as it was, which is what
    every process was before this existed.
    """
    os.umask(0o077)  # on every system: another account on the machine copies no file a node makes
    if not sys.platform.startswith("linux"):
        return
    try:
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))  # the hard limit too: no child can raise it again
    except (OSError, ValueError):
        pass
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_DUMPABLE, 0, 0, 0, 0)
    except (OSError, AttributeError):
        pass

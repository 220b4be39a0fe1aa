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

:func:`hide_arguments` is the fourth: **every account on the machine reads a process's command line** (``ps``,
``/proc/PID/cmdline``), and ``samizdat post town "text"`` would show the channel and the post there for as long as
the command runs (publishing to slow relays: seconds to minutes). The kernel reads that line from the process's
own memory (the ``arg_start``..``arg_end`` range that ``/proc/self/stat`` gives), and a process may write its own
memory through ``/proc/self/mem`` (even when not dumpable), so all the arguments are overwritten with NUL bytes
there: ``ps`` shows ``python .venv/bin/samizdat`` (or ``python -m samizdat``) and nothing else, not even which
command runs (a global option such as ``--home DIR`` may come before it). Python copied them into
``sys.argv`` at its start, so nothing of the program changes. The entry point (:mod:`samizdat.launch`) does it
before the command line's imports. What stays: the interpreter's own start (tens of milliseconds), and the
shell's history, which only leaving the text out prevents (the CLI reads it from standard input or an editor
then).
"""

from __future__ import annotations

import ctypes
import os
import resource
import sys

__all__ = ["harden", "hide_arguments"]

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


def hide_arguments(argv: list[str] | None = None) -> bool:
    """Overwrite, in this process's command line as other processes read it, every argument (``sys.argv[1:]``)
    with NUL bytes. ``argv`` is ``sys.argv`` unless given (tests).

    Returns whether it did. Never raises: where ``/proc/self/mem`` cannot be written (not Linux, a hardened
    kernel), the command line stays as it was, as it always was before.
    """
    argv = sys.argv if argv is None else argv
    if not sys.platform.startswith("linux") or len(argv) < 2:
        return False
    try:
        with open("/proc/self/stat", "rb") as f:
            fields = f.read().rsplit(b")", 1)[1].split()
        # fields[0] is the state, the 3rd field of the line: arg_start and arg_end are the 48th and 49th
        start, end = int(fields[45]), int(fields[46])
        with open("/proc/self/mem", "r+b", buffering=0) as mem:
            mem.seek(start)
            line = mem.read(end - start)
            words = line.rstrip(b"\0").split(b"\0")
            # the last len(argv) words are sys.argv (the interpreter and its options come before, from the #! line)
            if len(words) < len(argv) or words[-len(argv) + 1] != os.fsencode(argv[1]):
                return False
            keep = sum(len(w) + 1 for w in words[: len(words) - len(argv) + 1])
            mem.seek(start + keep)
            mem.write(bytes(len(line) - keep))
    except (OSError, ValueError, IndexError):
        return False
    return True

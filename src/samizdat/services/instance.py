"""One ``serve`` per data directory, and where it listens.

``serve`` holds an exclusive ``flock`` on ``<home>/serve.lock`` for as long as it runs: the kernel drops the lock
when the process ends, however it ends (Ctrl-C, kill -9, a power cut), so a stale lock never keeps a node from
starting. While the lock is held, ``<home>/serve.json`` says where the relay listens; commands in other
processes hand their new events to it (see :mod:`samizdat.services.publishing`), and ``web login`` prints a link
for the port it really uses.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
from collections.abc import Iterator
from pathlib import Path

import orjson

from samizdat.errors import UsageError

LOCK_FILE = "serve.lock"
SERVE_FILE = "serve.json"


@contextlib.contextmanager
def serve_lock(home: Path, *, busy: str | None = None) -> Iterator[None]:
    """Hold the data directory's serve lock; UsageError at once when another ``serve`` (or ``encrypt``,
    services/encryption.py) holds it, saying ``busy`` if given."""
    fd = os.open(home / LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            if busy is not None:
                raise UsageError(busy) from None
            where = running_address(home)
            at = f" at {where[0]}:{where[1]}" if where else ""
            raise UsageError(
                f"another `samizdat serve` is running on {home}{at}; stop it first, or give another --home"
            ) from None
        yield
    finally:
        os.close(fd)  # closing the descriptor releases the lock


def announce(home: Path, host: str, port: int, *, kill_cord_action: str | None = None) -> None:
    """Say where this ``serve`` listens, and whether a kill cord is armed (its action, not its path: the file is
    not sealed, and the path names the stick)."""
    info: dict[str, object] = {"pid": os.getpid(), "host": host, "port": port}
    if kill_cord_action is not None:
        info["kill_cord_action"] = kill_cord_action
    (home / SERVE_FILE).write_bytes(orjson.dumps(info))


def withdraw(home: Path) -> None:
    with contextlib.suppress(OSError):
        (home / SERVE_FILE).unlink()


def _locked(home: Path) -> bool:
    """True while some process holds the serve lock."""
    try:
        fd = os.open(home / LOCK_FILE, os.O_RDONLY)
    except OSError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(fd)
    return False


def _serve_info(home: Path) -> tuple[int, str, int] | None:
    """(pid, host, port) of the ``serve`` running on ``home``, or None when none runs."""
    try:
        info = orjson.loads((home / SERVE_FILE).read_bytes())
        pid, host, port = int(info["pid"]), str(info.get("host") or ""), int(info["port"])
    except (OSError, ValueError, KeyError, TypeError, AttributeError, orjson.JSONDecodeError):
        return None
    if not _locked(home):
        return None
    return pid, host, port


def command_beside_serve(home: Path) -> None:
    """For a command (not ``serve``) on ``home``: when a ``serve`` runs there, leave the plain store's log to it
    (store/dbapi.py, :func:`~samizdat.store.dbapi.leave_wal_to_serve`): it zeroes the log at its stop."""
    if _serve_info(home) is not None:
        from samizdat.store import dbapi  # only then: the commands that import this module need not load SQLite

        dbapi.leave_wal_to_serve()


def running_kill_cord(home: Path) -> str | None:
    """The action (lock, wipe) of the kill cord armed by the ``serve`` running on ``home``, or None."""
    if _serve_info(home) is None:
        return None
    try:
        action = orjson.loads((home / SERVE_FILE).read_bytes()).get("kill_cord_action")
    except (OSError, AttributeError, orjson.JSONDecodeError):
        return None
    return action if action in ("lock", "wipe") else None


def running_address(home: Path) -> tuple[str, int] | None:
    """(host, port) of the ``serve`` running on ``home``, or None when none runs."""
    found = _serve_info(home)
    return None if found is None else (found[1], found[2])


def running_pid(home: Path) -> int | None:
    """The process id of the ``serve`` running on ``home`` (it holds the serve lock), or None."""
    found = _serve_info(home)
    return None if found is None else found[0]


def running_relay_url(home: Path) -> str | None:
    """The local URL of the relay of the ``serve`` running on ``home``, or None."""
    found = running_address(home)
    if found is None:
        return None
    host, port = found
    host = "127.0.0.1" if host in ("0.0.0.0", "", "::") else host
    return f"ws://[{host}]:{port}" if ":" in host else f"ws://{host}:{port}"

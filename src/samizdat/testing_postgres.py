"""A throwaway PostgreSQL cluster for tests and benchmarks: Debian's ``initdb`` and ``pg_ctl`` in a temporary
directory, on a free loopback port, stopped and removed afterwards.

``initdb`` refuses to run as root (CI runs the tests as root), so as root the cluster belongs to an unprivileged
user: ``nobody``, whose home is not needed (every file lives in the cluster's own directory, which is handed to
that user). Run as anyone else, the cluster is simply that user's. The superuser is ``postgres`` with ``trust``
authentication on 127.0.0.1 only: nothing but this machine can reach it, and it lives as long as the test session.

Use :func:`start_cluster` as a context manager, or :class:`Cluster` with :meth:`Cluster.stop` in a ``finally``.
:func:`bin_dir` says whether PostgreSQL is installed (Debian: ``postgresql`` and ``postgresql-contrib``, the latter
for ``unaccent``, which the store's full-text search needs).
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

#: The migrated, empty database that test databases are copied from (tests/conftest.py).
POSTGRES_TEMPLATE = "samizdat_template"
#: The unprivileged user that owns the cluster when the tests run as root.
CLUSTER_USER = "nobody"


def bin_dir() -> Path | None:
    """The newest ``/usr/lib/postgresql/<version>/bin`` that has ``initdb`` and the ``unaccent`` extension, or None."""
    found = []
    for candidate in Path("/usr/lib/postgresql").glob("*/bin"):
        version = candidate.parent.name
        unaccent = Path(f"/usr/share/postgresql/{version}/extension/unaccent.control")
        if (candidate / "initdb").exists() and (candidate / "pg_ctl").exists() and unaccent.exists():
            found.append((int(version) if version.isdigit() else 0, candidate))
    return max(found)[1] if found else None


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Cluster:
    """A PostgreSQL cluster in ``directory``: ``start()``, then :meth:`url`, :meth:`create_database`; ``stop()``.

    ``fsync=False`` is for tests only (faster set-up of many databases; a crash of the machine would lose the
    cluster, which is thrown away anyway); benchmarks keep it on, so that they measure durable commits.
    """

    def __init__(self, directory: Path, *, fsync: bool = True, port: int | None = None) -> None:
        self.bin = bin_dir()
        if self.bin is None:
            raise FileNotFoundError(
                "PostgreSQL is not installed (Debian: apt-get install postgresql postgresql-contrib)"
            )
        self.directory = directory
        self.data = directory / "data"
        self.port = port or free_port()
        self.fsync = fsync
        self._as_root = os.geteuid() == 0
        self._started = False

    def _run(self, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        command = list(args)
        if self._as_root:
            command = ["runuser", "-u", CLUSTER_USER, "--", *command]
        return subprocess.run(command, check=True, capture_output=True, text=True, timeout=timeout, cwd=self.directory)

    def start(self, replica_of: Cluster | None = None) -> None:
        """Create the cluster and start its server; raise CalledProcessError (with PostgreSQL's output) on failure.

        With ``replica_of``, the cluster is a streaming replica (a hot standby) of that running cluster, copied
        with ``pg_basebackup``: it serves reads and replays what the primary writes."""
        assert self.bin is not None
        self.directory.mkdir(parents=True, exist_ok=True)
        if self._as_root:
            user = pwd.getpwnam(CLUSTER_USER)
            os.chown(self.directory, user.pw_uid, user.pw_gid)
        self.directory.chmod(0o700)
        if replica_of is None:
            self._run(str(self.bin / "initdb"), "-D", str(self.data), "-U", "postgres", "--auth=trust", "-E", "UTF8",
                      "--locale=C.UTF-8", "--no-sync")  # fmt: skip
        else:
            self._run(str(self.bin / "pg_basebackup"), "-D", str(self.data), "-h", "127.0.0.1",
                      "-p", str(replica_of.port), "-U", "postgres", "-R", "-X", "stream", "-c", "fast",
                      "--no-sync")  # fmt: skip
        settings = [
            "listen_addresses = '127.0.0.1'",
            f"port = {self.port}",
            f"unix_socket_directories = '{self.directory}'",
            f"fsync = {'on' if self.fsync else 'off'}",
            "max_connections = 200",
            "shared_buffers = 128MB",
            "wal_level = replica",
            "max_wal_senders = 4",
            "log_min_messages = warning",
        ]
        with (self.data / "postgresql.auto.conf").open("a", encoding="utf-8") as conf:
            conf.write("\n".join(settings) + "\n")
        with (self.data / "pg_hba.conf").open("a", encoding="utf-8") as hba:
            hba.write("host replication all 127.0.0.1/32 trust\n")
        self._started = True
        self._run(str(self.bin / "pg_ctl"), "-D", str(self.data), "-l", str(self.directory / "server.log"), "-w",
                  "-t", "60", "start")  # fmt: skip

    def url(self, database: str = "postgres") -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{database}"

    def sql(self, statement: str, database: str = "postgres") -> None:
        """Run one statement outside a transaction (CREATE DATABASE cannot run in one)."""
        import psycopg  # the store's dependency; imported here so that importing this module needs nothing

        with psycopg.connect(self.url(database), autocommit=True) as conn:
            conn.execute(statement.encode())

    def create_database(self, name: str, template: str | None = None) -> str:
        """A new database (a copy of ``template`` if given); return its URL."""
        copy = f" TEMPLATE {template}" if template else ""
        self.sql(f'CREATE DATABASE "{name}"{copy}')
        return self.url(name)

    def stop(self) -> None:
        """Stop the server (immediately: nothing in it is worth keeping) and delete the directory. Idempotent."""
        try:
            if self._started and self.bin is not None:
                self._started = False
                with contextlib.suppress(subprocess.SubprocessError, OSError):
                    self._run(str(self.bin / "pg_ctl"), "-D", str(self.data), "-m", "immediate", "-w", "stop",
                              timeout=60)  # fmt: skip
        finally:
            shutil.rmtree(self.directory, ignore_errors=True)

    def log(self) -> str:
        """The server's log, for a failing test's report."""
        try:
            return (self.directory / "server.log").read_text(encoding="utf-8", errors="replace")
        except OSError:
            return ""


@contextlib.contextmanager
def start_cluster(
    *, fsync: bool = True, parent: str | None = None, replica_of: Cluster | None = None
) -> Iterator[Cluster]:
    """A started :class:`Cluster` (a replica of ``replica_of`` if given) in a new temporary directory, stopped and
    removed when the block ends."""
    directory = Path(tempfile.mkdtemp(prefix="samizdat-pg-", dir=parent))
    directory.chmod(0o711)  # the cluster's own user (nobody, under root) must reach its folder inside
    cluster = Cluster(directory / "cluster", fsync=fsync)
    try:
        cluster.start(replica_of)
        yield cluster
    finally:
        cluster.stop()
        shutil.rmtree(directory, ignore_errors=True)

"""Real networks for LAN tests and benchmarks: Linux network namespaces, veth pairs and bridges.

Theory of operation
-------------------
A :class:`Lab` owns everything one test (or one benchmark) builds and tears it all down in :meth:`Lab.close`,
even after a failure. Its pieces:

- a **LAN** is a "switch" namespace holding one Linux bridge; nothing of ours lives in the root namespace;
- a **node** is a namespace of its own with loopback and one veth (``eth0``-like, named ``<prefix>NNh``) whose
  other end (``<prefix>NNs``) is a port of its LAN's bridge. Every node has a unique address in 10.77.0.0/16 and
  no default route: there is no way out of a LAN, and two LANs share nothing. Moving a node to another LAN moves
  the switch end of its veth into the other switch namespace (unplugging its cable and plugging it into another
  switch): the node keeps its address and its data;
- processes (``samizdat serve``, commands, a flooder) run inside a node's namespace with ``ip netns exec``, each
  in a session (process group) of its own, so teardown can signal the whole group.

Names all start with ``smzl`` plus a four-hex-digit run id (the censorship tests of another suite use
``smzb``), e.g. namespace ``smzl1a2bn03``. A run writes ``/run/smzl/<run id>`` holding its pid; at start,
:func:`remove_leftovers` deletes ``smzl`` namespaces whose run is no longer alive, so a crashed run's namespaces
do not pile up, while a benchmark running alongside the tests keeps its own.

Every wait is bounded in time and in count. Needs root and ``ip`` (iproute2): :func:`missing_requirement` says
which is missing, for a skip reason.
"""

from __future__ import annotations

import contextlib
import json
import os
import select
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any, NamedTuple, Self

from samizdat.testing import open_database, passphrase_env, poll_until

PREFIX = "smzl"
MARKERS = Path("/run/smzl")
SUBNET = "10.77.0.0/16"
PORT = 4848
CLI_TIMEOUT = 90.0  # one command; generous because the test machine is shared and busy
START_TIMEOUT = 45.0  # until `samizdat serve` has written serve.json
STOP_TIMEOUT = 15.0  # after SIGTERM, before SIGKILL
IP_TIMEOUT = 20.0  # one `ip` command


class LanError(Exception):
    """Building or driving the test network failed (an ``ip`` command, a process that would not start)."""


def missing_requirement() -> str | None:
    """Why namespace tests cannot run here, or None when they can."""
    if sys.platform != "linux":
        return "network namespaces need Linux"
    if os.geteuid() != 0:
        return "network namespaces need root (CI runs scripts/test as root)"
    if shutil.which("ip") is None:
        return "`ip` (iproute2) is missing: scripts/system-packages.sh installs it from scripts/apt/lan.txt"
    return None


def ip(*args: str, check: bool = True, timeout: float = IP_TIMEOUT) -> str:
    """Run ``ip ARGS`` and return its output; raise :class:`LanError` with its message when it fails."""
    try:
        done = subprocess.run(
            ["ip", *args], capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL, check=False
        )
    except subprocess.TimeoutExpired as exc:
        raise LanError(f"`ip {' '.join(args)}` did not finish within {timeout:.0f} s") from exc
    if check and done.returncode != 0:
        raise LanError(f"`ip {' '.join(args)}` failed: {done.stderr.strip()}")
    return done.stdout


def namespaces() -> list[str]:
    return [line.split()[0] for line in ip("netns", "list").splitlines() if line.strip()]


def namespace_pids(ns: str) -> list[int]:
    return [int(p) for p in ip("netns", "pids", ns, check=False).split() if p.isdigit()]


def delete_namespace(ns: str) -> None:
    """Kill whatever still runs in ``ns`` (bounded), then delete it (its interfaces go with it)."""
    for _ in range(20):
        pids = namespace_pids(ns)
        if not pids:
            break
        for pid in pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        time.sleep(0.05)
    ip("netns", "del", ns, check=False)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def remove_leftovers() -> list[str]:
    """Delete ``smzl`` namespaces of runs that are over (their owner pid is gone); return their names."""
    removed = []
    for ns in namespaces():
        if not ns.startswith(PREFIX):
            continue
        run_id = ns[len(PREFIX) : len(PREFIX) + 4]
        marker = MARKERS / run_id
        owner = 0
        with contextlib.suppress(OSError, ValueError):
            owner = int(marker.read_text().strip())
        if owner and owner != os.getpid() and _alive(owner):
            continue  # another run (a benchmark alongside the tests) still uses it
        delete_namespace(ns)
        removed.append(ns)
    for marker in MARKERS.glob("*") if MARKERS.is_dir() else ():
        with contextlib.suppress(OSError, ValueError):
            if not _alive(int(marker.read_text().strip())):
                marker.unlink()
    return removed


def _new_run_id() -> str:
    MARKERS.mkdir(parents=True, exist_ok=True)
    taken = {ns[len(PREFIX) : len(PREFIX) + 4] for ns in namespaces() if ns.startswith(PREFIX)}
    for _ in range(100):
        run_id = os.urandom(2).hex()
        marker = MARKERS / run_id
        if run_id in taken or marker.exists():
            continue
        marker.write_text(str(os.getpid()))
        return run_id
    raise LanError("no free run id after 100 tries")


def subprocess_env() -> dict[str, str]:
    """The environment of a node's commands: ours, without anything pointing at another home or a proxy."""
    env = dict(os.environ)
    for name in ("SAMIZDAT_HOME", "SAMIZDAT_PROXY", "SAMIZDAT_DEBUG", "http_proxy", "https_proxy", "all_proxy"):
        env.pop(name, None)
        env.pop(name.upper(), None)
    env["PYTHONUNBUFFERED"] = "1"
    env["COLUMNS"] = "120"
    env.update(passphrase_env())  # encrypted nodes, cheap to unlock (samizdat.testing)
    return env


def in_namespace(ns: str, argv: Sequence[str]) -> list[str]:
    """``ip netns exec NS ARGV``: ``ip`` execs the command, so the pid is the command's own."""
    return ["ip", "netns", "exec", ns, *argv]


def signal_group(process: subprocess.Popen[bytes], sig: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, sig)


def stop_group(process: subprocess.Popen[bytes], timeout: float = STOP_TIMEOUT) -> int:
    """SIGTERM the process group, SIGKILL it if the leader has not exited within ``timeout``; return the code."""
    if process.poll() is None:
        signal_group(process, signal.SIGTERM)
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            signal_group(process, signal.SIGKILL)
            process.wait(timeout)
    signal_group(process, signal.SIGKILL)  # anything the leader left behind in its group
    return int(process.returncode)


def wait_for(predicate: Callable[[], Any], timeout: float, what: str, interval: float = 0.25) -> Any:
    """Poll ``predicate`` until it returns something truthy (returned); raise TimeoutError naming ``what``
    (``samizdat.testing.poll_until``, every 0.25 s by default)."""
    return poll_until(predicate, timeout=timeout, what=what, interval=interval)


class CliResult(NamedTuple):
    code: int
    out: str
    err: str

    def json(self) -> Any:
        return json.loads(self.out)


class Lan:
    """A switch: a namespace holding one bridge. Nodes plug into it."""

    def __init__(self, lab: Lab, index: int) -> None:
        self.lab = lab
        self.index = index
        self.ns = f"{lab.prefix}s{index}"
        self.bridge = f"{lab.prefix}b{index}"
        self.nodes: list[LanNode] = []

    def __repr__(self) -> str:
        return f"Lan({self.ns})"


class LanNode:
    """One machine on a LAN: a namespace, an address, a data directory and at most one ``samizdat serve``."""

    def __init__(self, lab: Lab, index: int, name: str, lan: Lan, home: Path) -> None:
        self.lab = lab
        self.index = index
        self.name = name
        self.lan = lan
        self.home = home
        self.ns = f"{lab.prefix}n{index:02d}"
        self.host_if = f"{lab.prefix}{index:02d}h"  # in the node's namespace
        self.switch_if = f"{lab.prefix}{index:02d}s"  # a port of its LAN's bridge
        self.addr = f"10.77.{1 + index // 200}.{10 + index % 200}"
        self.port = PORT
        self.process: subprocess.Popen[bytes] | None = None
        self._log: Any = None
        self.starts = 0

    def __repr__(self) -> str:
        return f"LanNode({self.name}, {self.addr}, {self.ns})"

    @property
    def url(self) -> str:
        return f"ws://{self.addr}:{self.port}"

    @property
    def store_path(self) -> Path:
        return self.home / "events.sqlite"

    @property
    def log_path(self) -> Path:
        return self.lab.root / f"{self.name}.serve.log"

    # -- commands --------------------------------------------------------------------------------------------

    def argv(self, *args: str) -> list[str]:
        return [sys.executable, "-m", "samizdat", "--home", str(self.home), *args]

    def cli(self, *args: str, timeout: float = CLI_TIMEOUT) -> CliResult:
        """``samizdat --home HOME ARGS`` inside this node's namespace (so it reaches the running node)."""
        return self.lab.run(self.ns, self.argv(*args), timeout=timeout)

    def ok(self, *args: str, timeout: float = CLI_TIMEOUT) -> CliResult:
        result = self.cli(*args, timeout=timeout)
        if result.code != 0 or "Traceback" in result.err:
            raise LanError(f"{self.name}: `samizdat {' '.join(args)}` exited {result.code}: {result.err.strip()}")
        return result

    def json(self, *args: str, timeout: float = CLI_TIMEOUT) -> Any:
        return self.ok(*args, "--json", timeout=timeout).json()

    def post(self, channel: str, text: str, *extra: str) -> str:
        """Publish a post (through the running node, if any) and return its event id."""
        return str(self.json("post", channel, text, *extra)["ids"][0])

    def peers(self) -> list[dict[str, Any]]:
        return list(self.json("peers"))

    # -- serving ---------------------------------------------------------------------------------------------

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def start(self, *extra: str, wait: bool = True, timeout: float = START_TIMEOUT) -> None:
        """``samizdat serve --host 0.0.0.0 --port 4848 EXTRA`` in this node's namespace."""
        assert not self.running, f"{self.name} is already serving"
        self.starts += 1
        self._log = self.log_path.open("ab")
        self._log.write(f"\n--- start {self.starts}: serve {' '.join(extra)}\n".encode())
        self._log.flush()
        argv = self.argv("--verbose", "serve", "--host", "0.0.0.0", "--port", str(self.port), *extra)
        self.process = self.lab.spawn(self.ns, argv, self._log)
        if wait:
            self.wait_ready(timeout)

    def wait_ready(self, timeout: float = START_TIMEOUT) -> None:
        """Until ``serve.json`` names this process: it is written once the relay listens."""
        assert self.process is not None
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise LanError(f"{self.name}: samizdat serve exited with {self.process.returncode}: {self.output()}")
            with contextlib.suppress(OSError, ValueError, KeyError, TypeError):
                info = json.loads((self.home / "serve.json").read_text())
                if int(info["pid"]) == self.process.pid:
                    return
            time.sleep(0.05)
        raise LanError(f"{self.name}: samizdat serve not ready within {timeout:.0f} s: {self.output()}")

    def stop(self) -> int | None:
        """SIGTERM (then SIGKILL) the node's process group; return its exit code (None if it was not started)."""
        if self.process is None:
            return None
        code = stop_group(self.process)
        self.process = None
        self._close_log()
        return code

    def kill(self) -> int:
        """SIGKILL the node's process group, as a power cut would; return the exit code."""
        assert self.process is not None
        signal_group(self.process, signal.SIGKILL)
        code = self.process.wait(STOP_TIMEOUT)
        self.process = None
        self._close_log()
        return code

    def _close_log(self) -> None:
        if self._log is not None:
            self._log.close()
            self._log = None

    def output(self) -> str:
        if self._log is not None:
            self._log.flush()
        try:
            return self.log_path.read_text(errors="replace")[-6000:]
        except OSError:
            return ""

    # -- its store, read from outside ------------------------------------------------------------------------

    def _query(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        if not self.store_path.exists():
            return []
        conn = open_database(self.store_path)
        try:
            return list(conn.execute(sql, params).fetchall())
        finally:
            conn.close()

    def has(self, event_id: str) -> bool:
        return bool(self._query("SELECT 1 FROM events WHERE id = ?", (bytes.fromhex(event_id),)))

    def has_all(self, event_ids: Iterable[str]) -> bool:
        return all(self.has(e) for e in event_ids)

    def ids(self) -> set[str]:
        return {bytes(row[0]).hex() for row in self._query("SELECT id FROM events")}

    def count(self) -> int:
        rows = self._query("SELECT count(*) FROM events")
        return int(rows[0][0]) if rows else 0

    def store_files(self) -> dict[str, int]:
        """Sizes on disk of the event store, its WAL and its shared-memory file (0 for one that is absent)."""
        sizes = {}
        for name in ("events.sqlite", "events.sqlite-wal", "events.sqlite-shm"):
            with contextlib.suppress(FileNotFoundError):
                sizes[name] = (self.home / name).stat().st_size
        return sizes

    def store_bytes(self) -> int:
        """Size on disk of the event store with its WAL and shared-memory files."""
        return sum(self.store_files().values())

    def live_store_bytes(self) -> int:
        """Bytes in the store's pages in use (page_count - freelist_count): SQLite reuses freed pages before it
        grows the file, so this is what a quota bounds, while the file keeps its largest size."""
        rows = self._query(
            "SELECT (SELECT page_count FROM pragma_page_count) - (SELECT freelist_count FROM pragma_freelist_count),"
            " (SELECT page_size FROM pragma_page_size)"
        )
        return int(rows[0][0]) * int(rows[0][1]) if rows else 0

    # -- its wire ----------------------------------------------------------------------------------------------

    def link_bytes(self) -> tuple[int, int]:
        """(bytes received, bytes sent) on the node's interface, everything included (ARP, mDNS, TCP)."""
        stats = json.loads(ip("-n", self.ns, "-s", "-j", "link", "show", "dev", self.host_if))[0]["stats64"]
        return int(stats["rx"]["bytes"]), int(stats["tx"]["bytes"])


class Lab:
    """Everything one test builds: LANs, nodes and processes. Use as a context manager, or call close()."""

    def __init__(self, root: Path) -> None:
        self.root = root
        root.mkdir(parents=True, exist_ok=True)
        self.run_id = _new_run_id()
        self.prefix = f"{PREFIX}{self.run_id}"
        self.lans: list[Lan] = []
        self.nodes: list[LanNode] = []
        self.processes: list[subprocess.Popen[bytes]] = []
        self._namespaces: list[str] = []

    def device_program(self, node: LanNode, script: Path, role: str) -> subprocess.Popen[bytes]:
        """``python SCRIPT ROLE ADDRESS`` in ``node``'s namespace (a hostile device's helper program, taking its
        commands on stdin and answering on stdout; its stderr in ``<node>.<role>.log``), stopped with the lab."""
        with (self.root / f"{node.name}.{role}.log").open("ab") as log:
            process = subprocess.Popen(
                in_namespace(node.ns, [sys.executable, str(script.resolve()), role, node.addr]),
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=log,
                env=subprocess_env(),
                start_new_session=True,
            )
        self.processes.append(process)
        return process

    def __enter__(self) -> Lab:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def _add_namespace(self, ns: str) -> None:
        ip("netns", "add", ns)
        self._namespaces.append(ns)
        ip("-n", ns, "link", "set", "lo", "up")

    def lan(self) -> Lan:
        """A new switch: its own namespace with a bridge (no STP delay, no multicast snooping)."""
        lan = Lan(self, len(self.lans))
        self._add_namespace(lan.ns)
        ip("-n", lan.ns, "link", "add", lan.bridge, "type", "bridge", "stp_state", "0", "mcast_snooping", "0")
        ip("-n", lan.ns, "link", "set", lan.bridge, "up")
        self.lans.append(lan)
        return lan

    def node(self, lan: Lan, name: str | None = None, *, init: bool = True) -> LanNode:
        """A new machine plugged into ``lan``, with ``samizdat init`` done in its home unless ``init`` is off."""
        index = len(self.nodes)
        if index >= 200 * 200:
            raise LanError("too many nodes")
        name = name or f"node{index}"
        node = LanNode(self, index, name, lan, self.root / name)
        self._add_namespace(node.ns)
        ip(
            "link", "add", node.host_if, "netns", node.ns, "type", "veth",
            "peer", "name", node.switch_if, "netns", lan.ns,
        )  # fmt: skip
        ip("-n", node.ns, "addr", "add", f"{node.addr}/16", "dev", node.host_if)
        ip("-n", node.ns, "link", "set", node.host_if, "up")
        ip("-n", lan.ns, "link", "set", node.switch_if, "master", lan.bridge, "up")
        self.nodes.append(node)
        lan.nodes.append(node)
        if init:
            node.ok("init")
        return node

    def move(self, node: LanNode, lan: Lan) -> None:
        """Unplug ``node`` from its switch and plug it into ``lan``'s: same address, same data, same process."""
        old = node.lan
        ip("-n", old.ns, "link", "set", node.switch_if, "netns", lan.ns)
        ip("-n", lan.ns, "link", "set", node.switch_if, "master", lan.bridge, "up")
        old.nodes.remove(node)
        lan.nodes.append(node)
        node.lan = lan

    def spawn(self, ns: str, argv: Sequence[str], log: Any) -> subprocess.Popen[bytes]:
        """Start ``argv`` in namespace ``ns`` in a session of its own; it is stopped in :meth:`close`."""
        process = subprocess.Popen(
            in_namespace(ns, argv),
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            env=subprocess_env(),
            start_new_session=True,
        )
        self.processes.append(process)
        return process

    def run(self, ns: str, argv: Sequence[str], *, timeout: float = CLI_TIMEOUT) -> CliResult:
        """Run ``argv`` to completion in namespace ``ns``; raise LanError if it hangs (it is killed)."""
        process = subprocess.Popen(
            in_namespace(ns, argv),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=subprocess_env(),
            start_new_session=True,
        )
        try:
            out, err = process.communicate(timeout=timeout)
        except subprocess.TimeoutExpired as exc:
            signal_group(process, signal.SIGKILL)
            process.communicate(timeout=STOP_TIMEOUT)
            raise LanError(f"`{' '.join(argv)}` in {ns} did not finish within {timeout:.0f} s") from exc
        return CliResult(process.returncode, out.decode(errors="replace"), err.decode(errors="replace"))

    def close(self) -> None:
        """Stop every process (group) started here, then delete every namespace. Safe to call twice."""
        for node in self.nodes:
            with contextlib.suppress(Exception):
                node.stop()
        for process in self.processes:
            with contextlib.suppress(Exception):
                stop_group(process, timeout=5.0)
        self.processes.clear()
        for ns in reversed(self._namespaces):  # nodes first, then their switches
            with contextlib.suppress(Exception):
                delete_namespace(ns)
        self._namespaces.clear()
        with contextlib.suppress(OSError):
            marker = MARKERS / self.run_id
            if marker.read_text().strip() == str(os.getpid()):
                marker.unlink()


def peer_urls(node: LanNode) -> set[str]:
    """The relay URLs ``node`` lists in ``samizdat peers``."""
    return {peer["url"] for peer in node.peers()}


def neighbours_and_device(lab: Lab, timeout: float = 60.0) -> tuple[LanNode, LanNode, LanNode]:
    """A node and its honest neighbour (who owns a channel) that found each other on one LAN, and a third
    namespace on it that is not a node: the hostile device."""
    lan = lab.lan()
    node, neighbour = lab.node(lan, "node"), lab.node(lan, "neighbour")
    device = lab.node(lan, "device", init=False)
    neighbour.json("channel", "create", "yard", "--name", "Block 7 yard")
    node.start("--lan")
    neighbour.start("--lan")
    wait_for(lambda: neighbour.url in peer_urls(node) and node.url in peer_urls(neighbour), timeout, "the two nodes")
    return node, neighbour, device


class DeviceProgram:
    """A hostile device's program (:meth:`Lab.device_program`: ``SCRIPT ROLE``) in ``node``'s namespace, told what
    to do one JSON line at a time on stdin and answering one JSON line on stdout; stopped with the lab, or when the
    test leaves it."""

    def __init__(self, lab: Lab, node: LanNode, script: Path, role: str) -> None:
        self.process = lab.device_program(node, script, role)

    def send(self, do: str, **extra: Any) -> None:
        """Send a command without waiting for its answer (see :meth:`answer`)."""
        assert self.process.stdin is not None
        self.process.stdin.write(json.dumps({"do": do, **extra}).encode() + b"\n")
        self.process.stdin.flush()

    def answered(self) -> bool:
        """Whether the answer to the last command is waiting to be read."""
        assert self.process.stdout is not None
        return bool(select.select([self.process.stdout], [], [], 0)[0])

    def answer(self, timeout: float) -> dict[str, Any]:
        """The answer to the last command, once the program has done it."""
        assert self.process.stdout is not None
        if not select.select([self.process.stdout], [], [], timeout)[0]:
            raise LanError(f"the device did not answer within {timeout:.0f} s")
        answer: dict[str, Any] = json.loads(self.process.stdout.readline() or b"{}")
        return answer

    def ask(self, do: str, timeout: float, **extra: Any) -> dict[str, Any]:
        """Send a command and return the answer to it."""
        self.send(do, **extra)
        answer = self.answer(timeout)
        if answer.get("done") != do:
            raise LanError(f"the device answered {answer!r} to {do!r}")
        return answer

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        stop_group(self.process, timeout=5.0)
        for pipe in (self.process.stdin, self.process.stdout):
            if pipe is not None:
                pipe.close()

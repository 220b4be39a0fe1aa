"""Hostile network (issue 11): a real ``samizdat serve`` holding 60,000 posts, attacked from another address.

    .venv/bin/python bench/hostile.py                       # every attack, 40 s each; writes docs/benchmarks.md
    .venv/bin/python bench/hostile.py --quick               # 10 s each, one publisher batch: a smoke run
    .venv/bin/python bench/hostile.py --only junk,connections --duration 20 --no-write

Three network namespaces on one bridge (the LAN harness, ``tests/lan/lan_netns.py``): the node, the attacker and
an honest client, each with its own address, so the per-address caps apply to the attacker (loopback is exempt).
For each attack (``bench/attacks.py``: ``req-windows``, ``unplaceable``, ``count-neg``, ``connections``,
``junk``; and a ``baseline`` with no attack) a fresh copy of the node's home is served with
``samizdat serve --host <its bridge address> --port 4848 --no-mdns``, the attack runs for ``--duration``
seconds, and meanwhile, from the honest namespace:

* every second an honest reader connects, sends ``REQ {"kinds":[2333],"#a":[channel],"limit":50}`` for one of
  the 20 channels and times connect + REQ + EOSE (a reader that fails or takes over 10 s counts as failed; the
  details give the connects' own p95 too: waiting in the kernel's queue or the handshake, not the store);
* an honest publisher sends 1,000 posts on one connection (``--batches`` times, spread over the attack) and times
  from connecting until every ``OK`` is in;

and the node's resident memory (with any children) is sampled with psutil every 0.5 s, and the kernel counters of
the node's namespace (``nstat``: listen-queue overflows, SYN cookies) are read before and after the attack, to tell
a client waiting in the kernel from one waiting in the node. Afterwards the node must
still answer a reader, and every honest post it acknowledged with ``OK true`` must be found by an ``ids`` query.
Goals: RSS ≤ 600 MB, reader p95 ≤ 1 s, 1,000 posts acknowledged in ≤ 2 s, alive, nothing acknowledged lost.

The node's carry quota is set (``--carry-mb auto``) to what the preloaded posts and the honest posts take plus
8 MB, so the junk flood does push against it. Everything (node, attacker, honest clients, this script) shares the
machine's cores: the attacker's CPU share is reported. Needs root and iproute2 (nft for the SYN flood).
Internal roles: ``hostile.py honest ...`` and ``hostile.py verify ...`` run inside the honest namespace.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime as dt
import json
import math
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

import orjson

ROOT = Path(__file__).resolve().parents[1]
BENCH = ROOT / "bench"
OUT = BENCH / "out"
sys.path.insert(0, str(ROOT / "tests" / "lan"))
sys.path.insert(0, str(BENCH))

import dataset  # noqa: E402
from report import write_section  # noqa: E402

TITLE = "## Hostile network (issue 11)"
ATTACKS = ("baseline", "req-windows", "unplaceable", "count-neg", "connections", "junk")
CHANNELS = 20
PORT = 4848
READ_TIMEOUT = 10.0
PUBLISH_TIMEOUT = 30.0
ALIVE_GRACE = 30.0  # after the attack, the node must answer a reader within this (each try up to READ_TIMEOUT)
BATCH = 1000
GOALS = {"rss_mb": 600.0, "reader_p95_s": 1.0, "publish_s": 2.0}
#: The node namespace's kernel counters reported per attack (nstat names; see Run.kernel_counters).
KERNEL_COUNTERS = ("TcpExtListenOverflows", "TcpExtListenDrops", "TcpExtSyncookiesSent")
WS_OPTS: dict[str, Any] = {"compression": None, "max_size": 2**26, "ping_interval": None, "close_timeout": 1}


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", flush=True)


def pct(values: list[float], q: float) -> float:
    if not values:
        return math.nan
    s = sorted(values)
    return s[min(len(s) - 1, max(0, math.ceil(q / 100 * len(s)) - 1))]


# -- the node's data: 20 channels, 60,000 posts -----------------------------------------------------------------


def owner_key(i: int) -> Any:
    from samizdat.core.keys import SecretKey

    return SecretKey(dataset.secret("hostile-channel", i))


def _sign_channel(job: tuple[int, int, int]) -> list[bytes]:
    """Channel ``i``'s definition and ``count`` posts (news, some help requests), dated the 30 days before ``end``."""
    from samizdat.core.channel import build_channel_event, parse_channel
    from samizdat.core.posts import build_post

    i, count, end = job
    key = owner_key(i)
    start = end - 30 * 86400
    definition = build_channel_event(key, f"district{i}", f"District {i}", created_at=start - 60, languages=["be"])
    channel = parse_channel(definition)
    words = dataset.WORDS
    lines = [definition.to_json()]
    for n in range(count):
        created = start + (n * 30 * 86400) // count
        text = " ".join(words[(n * 7 + k * 3 + i) % len(words)] for k in range(12 + n % 20))
        if n % 10 == 9:
            event = build_post(key, channel, "help", text, created_at=created, need="transport")
        else:
            event = build_post(key, channel, "news", f"{text} ({n})", created_at=created)
        lines.append(event.to_json())
    return lines


def posts_file(total: int) -> Path:
    """The node's posts as JSON lines, cached in bench/out/ (signed once, in parallel)."""
    path = OUT / f"hostile-posts-{total}.jsonl"
    if path.exists():
        return path
    OUT.mkdir(exist_ok=True)
    per = total // CHANNELS - 1
    end = int(time.time()) - 86400
    t0 = time.monotonic()
    with ProcessPoolExecutor(os.cpu_count() or 2) as pool:
        jobs = [(i, per + (1 if i < total % CHANNELS else 0), end) for i in range(CHANNELS)]
        chunks = list(pool.map(_sign_channel, jobs))
    tmp = path.with_suffix(".tmp")
    tmp.write_bytes(b"\n".join(line for chunk in chunks for line in chunk) + b"\n")
    tmp.rename(path)
    log(f"signed {total:,} posts in {CHANNELS} channels in {time.monotonic() - t0:.0f} s ({path.name})")
    return path


def template_store(total: int) -> Path:
    """A store file holding :func:`posts_file`'s events (cached), written through the store API."""
    path = OUT / f"hostile-store-{total}.sqlite"
    if path.exists():
        return path
    from lan_data import add_to_store

    from samizdat.core.event import parse_event

    lines = dataset.read_lines(posts_file(total))
    events = [parse_event(orjson.loads(line), verify=False) for line in lines]
    tmp = path.with_name(path.name + ".tmp")
    for leftover in tmp.parent.glob(tmp.name + "*"):
        leftover.unlink()
    add_to_store(tmp, events)
    conn = sqlite3.connect(tmp)
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()
    tmp.rename(path)
    for leftover in tmp.parent.glob(tmp.name + "-*"):
        leftover.unlink()
    return path


def channel_addresses() -> list[str]:
    return [f"30333:{owner_key(i).public_key_hex}:district{i}" for i in range(CHANNELS)]


def honest_events(count: int, now: int) -> list[bytes]:
    """``count`` fresh news posts in channel 0 by its owner, as ``EVENT`` frames."""
    from samizdat.core.channel import build_channel_event, parse_channel
    from samizdat.core.posts import build_post

    key = owner_key(0)
    # The same definition the stored set has, rebuilt only to parse the channel (posts need its address).
    channel = parse_channel(build_channel_event(key, "district0", "District 0", created_at=now - 40 * 86400))
    posts = [build_post(key, channel, "news", f"Honest post {n} of this run", created_at=now) for n in range(count)]
    return [b'["EVENT",' + post.to_json() + b"]" for post in posts]


# -- honest roles (run inside the honest namespace) --------------------------------------------------------------


async def _reader(url: str, channel: str) -> dict[str, Any]:
    from websockets.asyncio.client import connect

    t0 = time.perf_counter()
    try:
        async with asyncio.timeout(READ_TIMEOUT):
            async with connect(url, open_timeout=None, **WS_OPTS) as ws:
                connected = time.perf_counter() - t0  # TCP and WebSocket handshakes: the part the door decides
                await ws.send(orjson.dumps(["REQ", "r", {"kinds": [2333], "#a": [channel], "limit": 50}]).decode())
                events = 0
                for _ in range(10_000):
                    raw = await ws.recv(decode=False)
                    if raw.startswith(b'["EOSE"'):
                        return {"s": time.perf_counter() - t0, "connect_s": connected, "events": events}
                    if raw.startswith(b'["EVENT"'):
                        events += 1
                    elif raw.startswith(b'["CLOSED"') or raw.startswith(b'["NOTICE"'):
                        # Refused: the reader failed, but the node did answer.
                        return {"s": None, "error": raw.decode(errors="replace")[:200], "answered": True}
                return {"s": None, "error": "no EOSE"}
    except Exception as exc:  # noqa: BLE001 - a failed reader is a result
        return {"s": None, "error": f"{type(exc).__name__}: {exc}"[:200], "after_s": time.perf_counter() - t0}


async def _publisher(url: str, frames: list[bytes]) -> dict[str, Any]:
    from websockets.asyncio.client import connect

    acked: list[str] = []
    refused: dict[str, int] = {}
    t0 = time.perf_counter()
    result: dict[str, Any] = {"sent": 0}
    try:
        async with asyncio.timeout(PUBLISH_TIMEOUT):
            async with connect(url, open_timeout=None, **WS_OPTS) as ws:
                result["connect_s"] = time.perf_counter() - t0

                async def send() -> None:
                    for f in frames:
                        await ws.send(f, text=True)
                        result["sent"] += 1

                sender = asyncio.create_task(send())
                try:
                    answers = 0
                    while answers < len(frames):
                        raw = await ws.recv(decode=False)
                        if not raw.startswith(b'["OK"'):
                            continue
                        answers += 1
                        ok = orjson.loads(raw)
                        if ok[2] is True:
                            acked.append(ok[1])
                        else:
                            reason = str(ok[3]).split(":")[0]
                            refused[reason] = refused.get(reason, 0) + 1
                    result["s"] = time.perf_counter() - t0
                finally:
                    sender.cancel()
                    with contextlib.suppress(BaseException):
                        await sender
    except Exception as exc:  # noqa: BLE001 - a failed batch is a result
        result["error"] = f"{type(exc).__name__}: {exc}"[:200]
        result["after_s"] = time.perf_counter() - t0
    result.update(acked=acked, ok=len(acked), refused=refused)
    return result


async def honest(args: argparse.Namespace, channels: list[str], frames: list[bytes]) -> dict[str, Any]:
    batches = [frames[b * BATCH : (b + 1) * BATCH] for b in range(args.batches)]
    t0 = time.monotonic()
    readers: list[asyncio.Task[dict[str, Any]]] = []
    publishers: list[asyncio.Task[dict[str, Any]]] = []
    starts = [args.duration * (b + 1) / (args.batches + 1) for b in range(args.batches)]
    for second in range(int(args.duration)):
        await asyncio.sleep(max(0.0, t0 + second - time.monotonic()))
        readers.append(asyncio.create_task(_reader(args.url, channels[second % len(channels)])))
        while starts and time.monotonic() - t0 >= starts[0]:
            starts.pop(0)
            publishers.append(asyncio.create_task(_publisher(args.url, batches[len(publishers)])))
    for _b in starts:
        publishers.append(asyncio.create_task(_publisher(args.url, batches[len(publishers)])))
    return {
        "readers": list(await asyncio.gather(*readers)),
        "batches": list(await asyncio.gather(*publishers)),
        "seconds": time.monotonic() - t0,
    }


async def verify(args: argparse.Namespace, channels: list[str], ids: list[str]) -> dict[str, Any]:
    """Is the node alive (a reader gets its EOSE), and which acknowledged ids does it still have?"""
    from websockets.asyncio.client import connect

    t0 = time.monotonic()
    probes = []
    for n in range(100):  # a node still working off the attack's backlog gets ALIVE_GRACE seconds to answer
        probes.append(await _reader(args.url, channels[n % len(channels)]))
        if probes[-1]["s"] is not None or probes[-1].get("answered") or time.monotonic() - t0 > ALIVE_GRACE:
            break
        await asyncio.sleep(1.0)
    probe = probes[-1]
    result: dict[str, Any] = {
        "alive": probe["s"] is not None or bool(probe.get("answered")),
        "probe": probe,
        "probes": len(probes),
        "answered_after_s": time.monotonic() - t0,
        "found": 0,
        "checked": False,
    }
    if not result["alive"]:
        return result
    found: set[str] = set()
    try:
        async with asyncio.timeout(60):
            async with connect(args.url, open_timeout=None, **WS_OPTS) as ws:
                for start in range(0, len(ids), 500):
                    chunk = ids[start : start + 500]
                    await ws.send(orjson.dumps(["REQ", "v", {"ids": chunk, "limit": len(chunk)}]).decode())
                    for _ in range(len(chunk) + 10):
                        raw = await ws.recv(decode=False)
                        if raw.startswith(b'["CLOSED"'):
                            raise RuntimeError(f"the ids query was refused: {raw[:200]!r}")
                        if raw.startswith(b'["EOSE"'):
                            break
                        if raw.startswith(b'["EVENT"'):
                            found.add(orjson.loads(raw)[2]["id"])
        result["checked"] = True
    except Exception as exc:  # noqa: BLE001 - reported; the store file is read instead
        result["error"] = f"{type(exc).__name__}: {exc}"[:200]
    result["found"] = len(found)
    result["missing"] = [i for i in ids if i not in found][:5]
    return result


# -- the orchestrator -----------------------------------------------------------------------------------------------


def rss_of(proc: Any) -> int:
    import psutil

    total = 0
    with contextlib.suppress(psutil.Error):
        total += proc.memory_info().rss
        for child in proc.children(recursive=True):
            with contextlib.suppress(psutil.Error):
                total += child.memory_info().rss
    return total


def cpu_of(proc: Any) -> float:
    import psutil

    with contextlib.suppress(psutil.Error):
        t = proc.cpu_times()
        return float(t.user + t.system)
    return 0.0


def store_stats(home: Path, acked: list[str], owners: set[bytes], fresh_since: int) -> dict[str, Any]:
    """Read the node's store file (the node stopped): totals, preloaded posts kept, acknowledged ids present."""
    path = home / "events.sqlite"
    conn = sqlite3.connect(f"{path.as_uri()}?mode=ro", uri=True, timeout=30)
    try:
        total = conn.execute("SELECT count(*) FROM events").fetchone()[0]
        preloaded = 0
        for owner in owners:
            preloaded += conn.execute(
                "SELECT count(*) FROM events WHERE pubkey = ? AND created_at < ?", (owner, fresh_since)
            ).fetchone()[0]
        present = 0
        raw_ids = [bytes.fromhex(i) for i in acked]
        for start in range(0, len(raw_ids), 500):
            chunk = raw_ids[start : start + 500]
            sql = f"SELECT count(*) FROM events WHERE id IN ({','.join('?' * len(chunk))})"
            present += conn.execute(sql, chunk).fetchone()[0]
        carried = conn.execute("SELECT coalesce(sum(length(raw)), 0) FROM events").fetchone()[0]
    finally:
        conn.close()
    return {"events": total, "preloaded_kept": preloaded, "acked_present": present, "raw_bytes": carried}


class Run:
    """One run: the lab (three namespaces), the template home, the honest data; one attack at a time."""

    def __init__(self, lab: Any, root: Path, args: argparse.Namespace) -> None:
        self.lab, self.root, self.args = lab, root, args
        lan = lab.lan()
        self.node = lab.node(lan, "node", init=False)
        self.attacker = lab.node(lan, "attacker", init=False)
        self.honest = lab.node(lan, "honest", init=False)
        self.url = f"ws://{self.node.addr}:{PORT}"
        self.template = root / "template-home"
        done = subprocess.run(
            # A plain node: its store is the plain template store below (the attack is on the relay, not the disk).
            [sys.executable, "-m", "samizdat", "--home", str(self.template), "init", "--no-passphrase"],
            capture_output=True, text=True, timeout=120, check=False,
        )  # fmt: skip
        if done.returncode != 0:
            raise RuntimeError(f"samizdat init failed: {done.stderr}")
        store = template_store(args.posts)
        shutil.copyfile(store, self.template / "events.sqlite")
        self.channels = root / "channels.json"
        self.channels.write_text(json.dumps(channel_addresses()))
        self.owners = {bytes.fromhex(owner_key(i).public_key_hex) for i in range(CHANNELS)}
        self.fresh_since = int(time.time()) - 60
        self.events = root / "honest-events.jsonl"
        frames = honest_events(BATCH * args.batches, int(time.time()))
        self.events.write_bytes(b"\n".join(frames) + b"\n")
        conn = sqlite3.connect(f"{(self.template / 'events.sqlite').as_uri()}?mode=ro", uri=True)
        preloaded_bytes = conn.execute("SELECT coalesce(sum(length(raw)), 0) FROM events").fetchone()[0]
        self.preloaded = conn.execute("SELECT count(*) FROM events").fetchone()[0]
        conn.close()
        honest_bytes = sum(len(f) for f in frames)
        if args.carry_mb == "auto":
            self.carry_mb: float | None = math.ceil((preloaded_bytes + honest_bytes) / 1e6 + 8)
        elif args.carry_mb == "default":
            self.carry_mb = None
        else:
            self.carry_mb = float(args.carry_mb)
        log(
            f"node {self.node.addr} ({self.preloaded:,} events, {preloaded_bytes / 1e6:.0f} MB of JSON), attacker"
            f" {self.attacker.addr}, honest {self.honest.addr}; carry quota"
            f" {'default' if self.carry_mb is None else f'{self.carry_mb:.0f} MB'}"
        )

    def py(self, *argv: str) -> list[str]:
        return [sys.executable, *argv]

    def start_node(self, home: Path, log_file: Any) -> subprocess.Popen[bytes]:
        argv = self.py("-m", "samizdat", "--home", str(home), "serve", "--host", self.node.addr, "--port", str(PORT))
        argv.append("--no-mdns")
        if self.carry_mb is not None:
            argv += ["--carry-mb", f"{self.carry_mb:g}"]
        process: subprocess.Popen[bytes] = self.lab.spawn(self.node.ns, argv, log_file)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if process.poll() is not None:
                log_file.flush()
                tail = " | ".join(Path(log_file.name).read_text(errors="replace").strip().splitlines()[-3:])
                raise RuntimeError(f"samizdat serve exited with {process.returncode}: {tail[-400:]}")
            with contextlib.suppress(OSError, ValueError, KeyError, TypeError):
                if int(json.loads((home / "serve.json").read_text())["pid"]) == process.pid:
                    return process
            time.sleep(0.05)
        raise RuntimeError("samizdat serve not ready within 60 s")

    def attack(self, name: str) -> dict[str, Any]:
        import psutil

        args = self.args
        home = self.root / f"home-{name}"
        shutil.copytree(self.template, home)
        # The copy leaves the home's pages dirty in the page cache: flushed now, not by the node's first fsync in
        # the middle of the measurement (which made the first honest batch seconds slower, attack or not).
        os.sync()
        logs = self.root / f"{name}.log"
        log_file = logs.open("ab")
        result: dict[str, Any] = {"attack": name}
        try:
            node = self.start_node(home, log_file)
            proc = psutil.Process(node.pid)
            time.sleep(1.0)
            result["rss_idle_mb"] = rss_of(proc) / 2**20
            attacker = None
            attacker_out = self.root / f"{name}.attacker.json"
            if name != "baseline":
                attacker = self.lab.spawn(
                    self.attacker.ns,
                    self.py(str(BENCH / "attacks.py"), name, "--host", self.node.addr, "--port", str(PORT),
                            "--duration", str(args.duration), "--out", str(attacker_out)),
                    log_file,
                )  # fmt: skip
                attacker_ps = psutil.Process(attacker.pid)
                deadline = time.monotonic() + 180
                while b"ATTACKING" not in logs.read_bytes():
                    if attacker.poll() is not None or time.monotonic() > deadline:
                        raise RuntimeError(f"the attacker did not start: {logs.read_text()[-2000:]}")
                    time.sleep(0.05)
            attack_start = time.monotonic()
            kernel0 = self.kernel_counters()
            attacker_cpu0 = cpu_of(attacker_ps) if attacker else 0.0
            node_cpu0 = cpu_of(proc)
            ramp = min(2.0, args.duration / 10)
            honest_out = self.root / f"{name}.honest.json"
            honest_argv = self.py(
                str(BENCH / "hostile.py"), "honest", "--url", self.url, "--duration", str(args.duration - ramp - 1),
                "--batches", str(args.batches), "--events", str(self.events), "--channels", str(self.channels),
                "--out", str(honest_out),
            )  # fmt: skip
            rss_max = result["rss_idle_mb"] * 2**20
            samples = 0
            honest_proc = None
            attacker_cpu = 0.0
            stop_at = attack_start + args.duration + 30
            for _ in range(10**6):
                now = time.monotonic()
                if honest_proc is None and now - attack_start >= ramp:
                    honest_proc = self.lab.spawn(self.honest.ns, honest_argv, log_file)
                rss_max = max(rss_max, rss_of(proc))
                samples += 1
                if attacker is not None and attacker.poll() is None and rss_max > args.rss_abort_mb * 2**20:
                    # The machine is shared: a node heading for the OOM killer has failed the goal already.
                    log(f"{name}: node RSS {rss_max / 2**20:.0f} MB > {args.rss_abort_mb} MB: stopping the attack")
                    result["aborted_at_s"] = now - attack_start
                    self.lab_stop(attacker)
                if attacker is not None and attacker.poll() is None:
                    attacker_cpu = cpu_of(attacker_ps) - attacker_cpu0
                attacker_done = attacker is None or attacker.poll() is not None
                honest_done = honest_proc is not None and honest_proc.poll() is not None
                if (attacker_done and honest_done) or now > stop_at or node.poll() is not None:
                    break
                time.sleep(0.5)
            attack_seconds = time.monotonic() - attack_start
            result["node_cpu_share"] = (cpu_of(proc) - node_cpu0) / attack_seconds
            kernel1 = self.kernel_counters()
            result["kernel"] = {name: kernel1[name] - kernel0.get(name, 0) for name in kernel1}
            if attacker is not None:
                result["attacker_cpu_share"] = attacker_cpu / args.duration
                if attacker.poll() is None:
                    result["attacker_killed"] = True
                    self.lab_stop(attacker)
                with contextlib.suppress(OSError, ValueError):
                    result["attacker"] = json.loads(attacker_out.read_text())
            if honest_proc is not None and honest_proc.poll() is None:
                self.lab_stop(honest_proc)
            honest_res: dict[str, Any] = {"readers": [], "batches": []}
            with contextlib.suppress(OSError, ValueError):
                honest_res = json.loads(honest_out.read_text())
            acked = [i for b in honest_res["batches"] for i in b.pop("acked", [])]
            result["readers"] = honest_res["readers"]
            result["batches"] = honest_res["batches"]
            result["acked"] = len(acked)
            result["samples"] = samples
            ids_file = self.root / f"{name}.acked.json"
            ids_file.write_text(json.dumps(acked))
            ver = self.lab.run(
                self.honest.ns,
                self.py(str(BENCH / "hostile.py"), "verify", "--url", self.url, "--ids", str(ids_file),
                        "--channels", str(self.channels)),
                timeout=180,
            )  # fmt: skip
            rss_max = max(rss_max, rss_of(proc))
            result["rss_max_mb"] = rss_max / 2**20
            result["rss_end_mb"] = rss_of(proc) / 2**20
            try:
                result["verify"] = json.loads(ver.out.strip().splitlines()[-1])
            except (IndexError, ValueError):
                result["verify"] = {"alive": False, "error": f"verify failed: {ver.err[-500:]}"}
            result["process_alive"] = node.poll() is None
            result["alive"] = result["process_alive"] and bool(result["verify"].get("alive"))
            code = self.lab_stop(node)
            result["exit_code"] = code
            stats = store_stats(home, acked, self.owners, self.fresh_since)
            result["store"] = stats
            if result["verify"].get("checked"):
                result["lost"] = len(acked) - int(result["verify"]["found"])
            else:
                result["lost"] = len(acked) - stats["acked_present"]
            result["lost_in_file"] = len(acked) - stats["acked_present"]
        finally:
            log_file.close()
            if not args.keep:
                shutil.rmtree(home, ignore_errors=True)
        return result

    def kernel_counters(self) -> dict[str, int]:
        """The node namespace's TCP counters of connections the kernel dropped or answered with SYN cookies
        (``nstat``; empty when it is missing): where an honest client waits, in the kernel or in the node."""
        if shutil.which("nstat") is None:
            return {}
        done = self.lab.run(self.node.ns, ["nstat", "-asz", *KERNEL_COUNTERS], timeout=20)
        counters = {}
        for line in done.out.splitlines():
            fields = line.split()
            if len(fields) >= 2 and fields[0] in KERNEL_COUNTERS and fields[1].isdigit():
                counters[fields[0]] = int(fields[1])
        return counters

    def lab_stop(self, process: subprocess.Popen[bytes]) -> int:
        from lan_netns import stop_group

        return int(stop_group(process, timeout=15.0))


# -- report -------------------------------------------------------------------------------------------------------


def summarize(res: dict[str, Any]) -> dict[str, Any]:
    readers = res.get("readers", [])
    ok = [r["s"] for r in readers if r.get("s") is not None]
    failed = len(readers) - len(ok)
    lat = ok + [math.inf] * failed
    batches = res.get("batches", [])
    pub = [b.get("s", math.inf) if b.get("ok") == BATCH else math.inf for b in batches]
    return {
        "rss_mb": res.get("rss_max_mb", math.nan),
        "reader_p95_s": pct(lat, 95) if lat else math.nan,
        "reader_p50_s": pct(lat, 50) if lat else math.nan,
        "readers": len(readers),
        "readers_failed": failed,
        "publish_s": max(pub) if pub else math.nan,
        "alive": bool(res.get("alive")),
        "lost": res.get("lost", 0),
    }


def cell(value: float, goal: float, digits: int) -> str:
    if value != value:
        return "–"
    shown = "> 10" if value == math.inf else f"{value:.{digits}f}"
    return f"{shown} ({'yes' if value <= goal else 'NO'})"


def table(results: list[dict[str, Any]]) -> list[str]:
    lines = [
        "| attack | max RSS, MB (goal ≤ 600) | reader p95, s (goal ≤ 1) | publisher 1,000 acked, s (goal ≤ 2) |"
        " alive (goal yes) | lost (goal 0) |",
        "|---|---|---|---|---|---|",
    ]
    for res in results:
        s = summarize(res)
        failed = f", {s['readers_failed']} of {s['readers']} failed" if s["readers_failed"] else ""
        rss = "–" if s["rss_mb"] != s["rss_mb"] else f"{s['rss_mb']:.0f} ({'yes' if s['rss_mb'] <= 600 else 'NO'})"
        reader = cell(s["reader_p95_s"], 1, 2).replace(" (", f"{failed} (", 1)
        lines.append(
            f"| {res['attack']} | {rss} | {reader} | {cell(s['publish_s'], 2, 2)} |"
            f" {'yes' if s['alive'] else 'NO'} | {s['lost']} ({'yes' if s['lost'] == 0 else 'NO'}) |"
        )
    return lines


def detail(res: dict[str, Any]) -> str:
    if res.get("error"):
        return f"- **{res['attack']}**: **failed**: `{res['error'][:400]}`"
    s = summarize(res)
    parts = [
        f"**{res['attack']}**: node RSS idle {res.get('rss_idle_mb', 0):.0f} MB, max {s['rss_mb']:.0f} MB,"
        f" {res.get('rss_end_mb', 0):.0f} MB after; node CPU {res.get('node_cpu_share', 0):.0%} of a core"
    ]
    if "aborted_at_s" in res:
        parts.append(f"**attack stopped after {res['aborted_at_s']:.0f} s: node RSS over the abort limit**")
    if "attacker_cpu_share" in res:
        parts.append(f"attacker CPU {res['attacker_cpu_share']:.0%}")
    if any(res.get("kernel", {}).values()):
        kernel = res["kernel"]
        parts.append(
            f"kernel: {kernel.get('TcpExtListenOverflows', 0):,} listen-queue overflows,"
            f" {kernel.get('TcpExtSyncookiesSent', 0):,} SYN cookies"
        )
    p50 = "> 10" if s["reader_p50_s"] == math.inf else f"{s['reader_p50_s']:.2f}"
    connects = [r["connect_s"] for r in res.get("readers", []) if r.get("connect_s") is not None]
    connect = f", connect p95 {pct(connects, 95):.2f} s" if connects else ""
    parts.append(f"readers: {s['readers']} (p50 {p50} s{connect}, {s['readers_failed']} failed)")
    ver = res.get("verify", {})
    if ver.get("alive") and ver.get("probes", 1) > 1:
        parts.append(f"after the attack the node answered a reader only {ver['answered_after_s']:.1f} s later")
    errors = sorted({str(r.get("error"))[:80] for r in res.get("readers", []) if r.get("error")})
    if errors:
        parts.append("reader errors: " + "; ".join(errors[:3]))
    for n, b in enumerate(res.get("batches", []), 1):
        text = f"batch {n}: {b.get('ok', 0):,} OK true"
        if "s" in b:
            text += f" in {b['s']:.2f} s (connect {b.get('connect_s', 0):.2f} s)"
        if b.get("refused"):
            text += ", refused " + ", ".join(f"{k} x{v}" for k, v in b["refused"].items())
        if b.get("error"):
            text += f", **{b['error'][:100]}** after {b.get('after_s', 0):.1f} s"
        parts.append(text)
    st = res.get("store", {})
    if st:
        parts.append(
            f"store after: {st['events']:,} events, {st['preloaded_kept']:,} preloaded posts kept,"
            f" {st['acked_present']:,} of {res.get('acked', 0):,} acknowledged honest posts in the file"
        )
    att = res.get("attacker")
    if att:
        keys = [k for k in sorted(att) if k not in ("attack", "notes", "seconds", "cpu_share", "signing_seconds")]
        shown = (f"{k} {att[k]:,}" if isinstance(att[k], int) else f"{k} {att[k]}" for k in keys)
        parts.append("attacker: " + ", ".join(shown))
    probe = res.get("verify", {}).get("probe", {})
    if res.get("alive") and probe.get("s") is None:
        parts.append(f"after the attack the node answered but refused the reader: {probe.get('error')}")
    if not res.get("alive"):
        parts.append(f"**not alive**: {res.get('verify', {}).get('error') or res.get('verify', {}).get('probe')}")
    return "- " + "; ".join(parts)


def section(results: list[dict[str, Any]], command: str, date: str, info: dict[str, Any]) -> list[str]:
    from lan import machine

    lines = [
        TITLE,
        "",
        "A real `samizdat serve` in a network namespace, attacked from a second namespace (one address, so the"
        " per-address caps apply) while an honest reader and publisher work from a third (`bench/hostile.py`,"
        " attacks in `bench/attacks.py`; how: `bench/README.md`). Each attack runs against a fresh copy of the"
        f" same home: {info['posts']:,} posts in {CHANNELS} channels, carry quota {info['carry']}. Code measured:"
        f" {info.get('code', 'the working tree')}.",
        "",
        f"- date: {date}",
        f"- command: `{command}`",
        f"- machine: {machine()}; node, attacker, honest clients and other work share the cores"
        f" ({info.get('load', 'load not recorded')})",
        f"- each attack {info['duration']:.0f} s; a reader every second (connect + REQ for a channel's 50 newest"
        f" + EOSE; failed or over {READ_TIMEOUT:.0f} s counts as > 10); {info['batches']} publisher batch(es) of"
        " 1,000 posts (from connecting to the last OK; the worst batch is shown); RSS of the node every 0.5 s;"
        f" alive: the process runs and answers a reader's REQ (EOSE, or at least CLOSED) within {ALIVE_GRACE:.0f} s"
        " after the attack; lost:"
        " honest posts acknowledged with OK true that an `ids` query no longer finds",
        "",
    ]
    if info["duration"] < 40:
        lines += [f"**Short run ({info['duration']:.0f} s per attack, not the 40 s the goals are set for).**", ""]
    lines += table(results)
    lines += ["", *[detail(r) for r in results], ""]
    return lines


def orchestrate(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    from lan_netns import Lab, missing_requirement, remove_leftovers

    reason = missing_requirement()
    if reason is not None:
        print(f"bench/hostile.py: {reason}", file=sys.stderr)
        return 2
    wanted = [a.strip() for a in args.only.split(",") if a.strip()]
    if unknown := set(wanted) - set(ATTACKS):
        parser.error(f"unknown attack(s): {', '.join(sorted(unknown))}")
    removed = remove_leftovers()
    if removed:
        log(f"removed leftover namespaces: {', '.join(removed)}")
    template_store(args.posts)  # signs and fills once (cached in bench/out/) before anything is timed
    load = "load average at the start {:.1f} / {:.1f} / {:.1f}".format(*os.getloadavg())
    root = Path(tempfile.mkdtemp(prefix="smzl-hostile-"))
    code = "the working tree"
    if args.rev:
        from compare import env_for, extract_src, git

        commit = git("rev-parse", "--verify", f"{args.rev}^{{commit}}")
        src = extract_src(commit, root / "rev")
        # Every process started from here (node, attacker, honest client) imports samizdat from that revision.
        os.environ["PYTHONPATH"] = env_for(src)["PYTHONPATH"]
        code = f"revision `{commit[:10]}`"
        log(f"running samizdat from {code} ({src})")
    results: list[dict[str, Any]] = []
    try:
        with Lab(root) as lab:
            run = Run(lab, root, args)
            for name in wanted:
                log(f"{name}: {args.duration:.0f} s")
                try:
                    res = run.attack(name)
                except Exception as exc:  # noqa: BLE001 - one failed attack must not lose the others' figures
                    log(f"{name} FAILED: {type(exc).__name__}: {exc} (logs in {root})")
                    res = {"attack": name, "error": f"{type(exc).__name__}: {exc}"}
                results.append(res)
                s = summarize(res)
                log(
                    f"{name}: RSS max {s['rss_mb']:.0f} MB, reader p95 {s['reader_p95_s']:.2f} s"
                    f" ({s['readers_failed']} of {s['readers']} failed), publisher {s['publish_s']:.2f} s,"
                    f" alive {s['alive']}, lost {s['lost']}"
                )
            carry = "node default (256 MB)" if run.carry_mb is None else f"{run.carry_mb:.0f} MB"
            if args.carry_mb == "auto":
                carry += " (preloaded and honest posts' JSON + 8 MB)"
            info = {"posts": run.preloaded, "duration": args.duration, "batches": args.batches, "code": code,
                    "load": load, "carry": carry}  # fmt: skip
    finally:
        if args.keep:
            log(f"kept {root}")
        else:
            shutil.rmtree(root, ignore_errors=True)
    date = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    command = ".venv/bin/python bench/hostile.py" + "".join(f" {a}" for a in sys.argv[1:])
    OUT.mkdir(exist_ok=True)
    saved = {"date": date, "command": command, "info": info, "results": results}
    (OUT / f"hostile-{time.strftime('%Y%m%d-%H%M%S')}.json").write_text(json.dumps(saved, indent=1, default=str))
    lines = section(results, command, date, info)
    print("\n".join(lines))
    if not args.no_write:
        write_section(args.output, TITLE, lines)
    return 0


def _interrupt(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


def main() -> int:
    if len(sys.argv) > 1 and sys.argv[1] in ("honest", "verify"):
        role = sys.argv.pop(1)
        p = argparse.ArgumentParser(prog=f"hostile.py {role}")
        p.add_argument("--url", required=True)
        p.add_argument("--channels", required=True)
        if role == "honest":
            p.add_argument("--duration", type=float, required=True)
            p.add_argument("--batches", type=int, default=2)
            p.add_argument("--events", required=True)
            p.add_argument("--out", type=Path, required=True)
            a = p.parse_args()
            frames = dataset.read_lines(Path(a.events))
            res = asyncio.run(honest(a, json.loads(Path(a.channels).read_text()), frames))
            a.out.write_text(json.dumps(res))
        else:
            p.add_argument("--ids", required=True)
            a = p.parse_args()
            ids = json.loads(Path(a.ids).read_text())
            print(json.dumps(asyncio.run(verify(a, json.loads(Path(a.channels).read_text()), ids))), flush=True)
        return 0
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--only", default=",".join(ATTACKS), help="comma-separated: " + ", ".join(ATTACKS))
    parser.add_argument("--duration", type=float, default=40.0, help="seconds per attack (default 40)")
    parser.add_argument("--quick", action="store_true", help="10 s per attack and one publisher batch")
    parser.add_argument("--batches", type=int, default=2, help="honest publisher batches of 1,000 per attack")
    parser.add_argument("--posts", type=int, default=60_000, help="posts the node holds (default 60,000)")
    parser.add_argument("--carry-mb", default="auto", help="the node's carry quota: auto, default or megabytes")
    parser.add_argument("--rev", help="measure this git revision's src/ (git archive) instead of the working tree")
    parser.add_argument("--rss-abort-mb", type=int, default=4000, help="stop an attack once the node passes this")
    parser.add_argument("--keep", action="store_true", help="keep the homes and logs (printed path)")
    parser.add_argument("--no-write", action="store_true", help="do not write docs/benchmarks.md")
    parser.add_argument("--output", type=Path, default=ROOT / "docs" / "benchmarks.md")
    args = parser.parse_args()
    if args.quick:
        args.duration = min(args.duration, 10.0)
        args.batches = 1
    # SIGTERM and SIGHUP unwind like Ctrl-C, so the lab's namespaces and processes are always removed.
    for sig in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, _interrupt)
    return orchestrate(args, parser)


if __name__ == "__main__":
    raise SystemExit(main())

"""Run every benchmark against every relay in the same run; print a table and write ``docs/benchmarks.md``.

    .venv/bin/python bench/run.py [--quick] [--only ingest,query,fanout,memory,startup,loadgen]
                                  [--relays samizdat,localrelay,nostr-relay] [--no-write]

Benchmarks (see bench/README.md): ``ingest`` (OK-true events/s, fresh store), ``query`` (REQ to EOSE on a
pre-filled store), ``fanout`` (publish-to-delivery latency to many subscribers), ``memory`` (relay RSS with
the
pre-filled store and every fan-out subscriber connected; runs the fan-out), ``startup`` (spawn to first
WebSocket
handshake), ``loadgen`` (the same load against a trivial echo relay, to show the load generator is not the
limit).

Every process started here runs in its own process group and is killed when its benchmark ends, on error, and
at
exit. Only 127.0.0.1 is used.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime as dt
import json
import os
import platform
import shlex
import signal
import statistics
import subprocess
import sys
import time
import traceback
from pathlib import Path
from typing import Any

import orjson

sys.path.insert(0, str(Path(__file__).resolve().parent))
import dataset
import peers
from report import cpu_name

BENCH = peers.BENCH
ROOT = peers.ROOT
LOADGEN = str(BENCH / "loadgen.py")
ALL_BENCHES = ("ingest", "query", "fanout", "memory", "startup", "loadgen")

SIZES: dict[str, dict[str, Any]] = {
    "full": {
        "store": 1_000_000,
        "ingest": 50_000,
        "ingest_conns": 4,
        "window": 200,
        "queries": 2000,
        "warmup": 200,
        "query_seconds": 120,
        "subscribers": 5000,
        "sub_procs": 4,
        "rate": 200,
        "duration": 20,
        "drain": 10,
        "startup_reps": 10,
    },
    "quick": {
        "store": 20_000,
        "ingest": 5_000,
        "ingest_conns": 4,
        "window": 200,
        "queries": 200,
        "warmup": 20,
        "query_seconds": 30,
        "subscribers": 500,
        "sub_procs": 2,
        "rate": 50,
        "duration": 5,
        "drain": 3,
        "startup_reps": 3,
    },
}

TARGETS = {
    "ingest_rate": ("≥ 10,000 events/s (durable)", lambda v: v >= 10_000),
    "query_p50_ms": ("≤ 2 ms", lambda v: v <= 2),
    "query_p99_ms": ("≤ 10 ms", lambda v: v <= 10),
    "fanout_p50_ms": ("", None),
    "fanout_p99_ms": ("≤ 250 ms", lambda v: v <= 250),
    "fanout_dropped": ("0", lambda v: v == 0),
    "memory_mb": ("≤ 500 MB", lambda v: v <= 500),
    "startup_s": ("≤ 1 s", lambda v: v <= 1),
}


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", flush=True)


def pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    s = sorted(values)
    k = min(len(s) - 1, max(0, round(q / 100 * (len(s) - 1))))
    return s[k]


# -- load generator workers ----------------------------------------------------------------------------------


class Worker:
    """One ``loadgen.py`` process; its last ``RESULT`` line is the answer."""

    def __init__(self, *args: str) -> None:
        self.cmd = [peers.PY, LOADGEN, *args]
        self.proc: asyncio.subprocess.Process | None = None
        self.stderr: list[bytes] = []

    async def start(self) -> Worker:
        self.proc = await asyncio.create_subprocess_exec(
            *self.cmd,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            start_new_session=True,
            limit=256 * 1024 * 1024,
        )
        return self

    async def line(self, prefix: str, timeout: float) -> str:
        assert self.proc is not None
        assert self.proc.stdout is not None
        async with asyncio.timeout(timeout):
            while True:
                raw = await self.proc.stdout.readline()
                if not raw:
                    err = b""
                    if self.proc.stderr is not None:
                        err = await self.proc.stderr.read()
                    raise RuntimeError(f"loadgen {self.cmd[2]} ended without {prefix}:\n{err.decode()[-3000:]}")
                text = raw.decode()
                if text.startswith(prefix):
                    return text[len(prefix) :].strip()

    async def result(self, timeout: float) -> dict[str, Any]:
        return dict(orjson.loads(await self.line("RESULT ", timeout)))

    async def send(self, text: str) -> None:
        assert self.proc is not None
        assert self.proc.stdin is not None
        self.proc.stdin.write(text.encode() + b"\n")
        await self.proc.stdin.drain()

    def kill(self) -> None:
        if self.proc is not None and self.proc.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, 9)

    async def __aenter__(self) -> Worker:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        self.kill()
        if self.proc is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self.proc.wait(), 5)


async def run_tool(*cmd: str, timeout: float) -> str:
    """Run a helper process to completion (killed on timeout or error); return its stdout, raise on
    failure."""
    proc = await asyncio.create_subprocess_exec(
        *cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True
    )
    try:
        async with asyncio.timeout(timeout):
            out, err = await proc.communicate()
    finally:
        if proc.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, 9)
            await proc.wait()
    if proc.returncode != 0:
        raise RuntimeError(f"{Path(cmd[1]).name} failed ({proc.returncode}):\n{err.decode()[-3000:]}")
    return out.decode()


async def run_worker(*args: str, timeout: float) -> dict[str, Any]:
    async with Worker(*args) as w:
        return await w.result(timeout)


# -- benchmarks ----------------------------------------------------------------------------------------------


async def bench_startup(spec: peers.RelaySpec, size: dict[str, Any]) -> dict[str, Any]:
    times = []
    for _ in range(size["startup_reps"]):
        relay = peers.RelayProcess(spec)
        try:
            times.append(await relay.start(timeout=60))
        finally:
            relay.cleanup()
    return {"startup_s": statistics.median(times), "startup_all_s": times}


PROFILE = False


def profile_path(spec: peers.RelaySpec, bench: str) -> Path:
    (BENCH / "out").mkdir(exist_ok=True)
    ext = os.environ.get("BENCH_PROFILE_FORMAT", "svg")  # "txt": collapsed stacks, for grep and flamegraph.pl
    return BENCH / "out" / f"profile-{spec.name}-{bench}-{time.strftime('%Y%m%d-%H%M%S')}.{ext}"


@contextlib.contextmanager
def profiled(relay: peers.RelayProcess, bench: str) -> Any:
    """Sample the relay with py-spy during the block when ``--profile`` was given (Python relays only)."""
    prof = None
    if PROFILE and not relay.spec.name.startswith("localrelay"):
        prof = relay.profile(profile_path(relay.spec, bench))
    try:
        yield
    finally:
        relay.stop_profile(prof)


async def bench_ingest(spec: peers.RelaySpec, size: dict[str, Any]) -> dict[str, Any]:
    path = dataset.ensure("ingest", size["ingest"])
    async with peers.RelayProcess(spec) as relay:
        cpu0 = relay.cpu_seconds()
        with profiled(relay, "ingest"):
            res = await run_worker(
                "ingest",
                "--url",
                relay.url,
                "--file",
                str(path),
                "--count",
                str(size["ingest"]),
                "--conns",
                str(size["ingest_conns"]),
                "--window",
                str(size["window"]),
                "--timeout",
                "600",
                timeout=660,
            )
        res["relay_cpu_share"] = (relay.cpu_seconds() - cpu0) / res["seconds"]
        res["relay_rss_mb"] = relay.rss() / 2**20
    return {"ingest_rate": res["rate"], "ingest": res}


async def prefilled_relay(spec: peers.RelaySpec, size: dict[str, Any]) -> tuple[peers.RelayProcess, dict[str, Any]]:
    """A running relay holding the ``store`` data set, and how it was filled."""
    path = dataset.ensure("store", size["store"])
    info: dict[str, Any] = {"events": size["store"]}
    relay = peers.RelayProcess(spec)
    try:
        if spec.name == "samizdat":
            t0 = time.perf_counter()
            await run_tool(
                peers.PY,
                str(BENCH / "launch_ours.py"),
                "--db",
                str(relay.data / "samizdat.sqlite3"),
                "--prefill",
                str(path),
                timeout=3600,
            )
            info.update(
                method="store API (SqliteStore.add_many, 5,000 a batch) before start",
                fill_seconds=time.perf_counter() - t0,
            )
            await relay.start()
        elif spec.name == "nostr-relay":
            await relay.start()  # creates the schema (alembic)
            relay.stop()
            t0 = time.perf_counter()
            await run_tool(
                peers.PY,
                str(BENCH / "fill_nostr_relay.py"),
                str(relay.data / "nostr.sqlite3"),
                str(path),
                timeout=3600,
            )
            info.update(
                method="rows written into its SQLite schema (bench/fill_nostr_relay.py) before start",
                fill_seconds=time.perf_counter() - t0,
            )
            await relay.start()
        else:
            await relay.start()
            res = await run_worker(
                "ingest",
                "--url",
                relay.url,
                "--file",
                str(path),
                "--count",
                str(size["store"]),
                "--conns",
                "4",
                "--window",
                "500",
                "--timeout",
                "3000",
                timeout=3100,
            )
            if res["ok"] != size["store"]:
                raise RuntimeError(f"fill by publishing: {res['ok']} of {size['store']} accepted: {res}")
            info.update(method="published over 4 WebSocket connections", fill_seconds=res["seconds"])
        info["rss_mb_idle"] = relay.rss() / 2**20
    except BaseException:
        relay.cleanup()
        raise
    return relay, info


async def bench_query(relay: peers.RelayProcess, size: dict[str, Any]) -> dict[str, Any]:
    cpu0 = relay.cpu_seconds()
    with profiled(relay, "query"):
        res = await run_worker(
            "query",
            "--url",
            relay.url,
            "--n",
            str(size["queries"]),
            "--warmup",
            str(size["warmup"]),
            "--max-seconds",
            str(size["query_seconds"]),
            "--timeout",
            "600",
            timeout=660,
        )
    lat = res.pop("latencies")
    res["relay_cpu_share"] = (relay.cpu_seconds() - cpu0) / res["seconds"] if res["seconds"] else 0
    res["count"] = len(lat)
    if res["error"] or res["min_events"] == 0:
        log(f"  query warning: {res}")
    return {
        "query_p50_ms": pct(lat, 50) * 1e3,
        "query_p99_ms": pct(lat, 99) * 1e3,
        "query_mean_ms": statistics.fmean(lat) * 1e3 if lat else float("nan"),
        "query": res,
    }


async def publish_and_watch(relay: peers.RelayProcess, size: dict[str, Any]) -> dict[str, Any]:
    """Run the publisher to the end, sampling the relay's RSS every 0.5 s."""
    rss_peak = 0
    async with Worker(
        "publish", "--url", relay.url, "--rate", str(size["rate"]), "--duration", str(size["duration"])
    ) as pub:
        result_task = asyncio.create_task(pub.result(timeout=size["duration"] + 120))
        while not result_task.done():
            rss_peak = max(rss_peak, relay.rss())
            await asyncio.wait({result_task}, timeout=0.5)
        pres = result_task.result()
    pres["rss_peak"] = rss_peak
    return pres


async def bench_fanout(relay: peers.RelayProcess, size: dict[str, Any]) -> dict[str, Any]:
    n, procs = size["subscribers"], size["sub_procs"]
    since = int(time.time()) - 5
    per = -(-n // procs)
    subs = [
        Worker(
            "subscribe",
            "--url",
            relay.url,
            "--first",
            str(i * per),
            "--count",
            str(min(per, n - i * per)),
            "--since",
            str(since),
            "--connect-timeout",
            "300",
            "--timeout",
            "600",
        )
        for i in range(procs)
        if i * per < n
    ]
    out: dict[str, Any] = {}
    rss_peak = 0
    try:
        for w in subs:
            await w.start()
        ready = [await w.line("READY ", timeout=330) for w in subs]
        connect_s = max(float(r.split()[0]) for r in ready)
        not_ready = sum(int(r.split()[1]) for r in ready)
        await asyncio.sleep(1)
        rss_connected = relay.rss()
        log(
            f"  {n} subscribers ready in {connect_s:.1f} s ({not_ready} without EOSE); "
            f"relay RSS {rss_connected / 2**20:.0f} MB"
        )
        cpu0 = relay.cpu_seconds()
        t0 = time.perf_counter()
        with profiled(relay, "fanout"):
            pres = await publish_and_watch(relay, size)
        rss_peak = max(rss_peak, pres.pop("rss_peak"))
        pub_wall = time.perf_counter() - t0
        relay_cpu = relay.cpu_seconds() - cpu0
        drain_end = time.perf_counter() + size["drain"]
        while time.perf_counter() < drain_end:
            rss_peak = max(rss_peak, relay.rss())
            await asyncio.sleep(0.5)
        deliverable = orjson.dumps(pres.pop("deliverable")).decode()
        for w in subs:
            await w.send("STOP " + deliverable)
        results = [await w.result(timeout=120) for w in subs]
    finally:
        for w in subs:
            await w.__aexit__()
    lat = [x for r in results for x in r.pop("latencies")]
    ack = pres.pop("ack_latencies")
    agg = {
        k: sum(r[k] for r in results)
        for k in (
            "expected",
            "received",
            "dropped",
            "unexpected",
            "duplicates",
            "closed_by_relay",
            "disconnected",
            "failed_connections",
        )
    }
    out.update(
        {
            "fanout_p50_ms": pct(lat, 50) * 1e3,
            "fanout_p99_ms": pct(lat, 99) * 1e3,
            "fanout_dropped": agg["dropped"],
            "memory_mb": rss_peak / 2**20,
            "fanout": {
                **agg,
                "subscribers": n,
                "subscriber_procs": len(subs),
                "connect_seconds": connect_s,
                "not_ready": not_ready,
                "rss_connected_mb": rss_connected / 2**20,
                "rss_peak_mb": rss_peak / 2**20,
                "published": pres["sent"],
                "planned": pres["planned"],
                "publish_error": pres["error"],
                "accepted": pres["accepted"],
                "publish": pres,
                "ack_p50_ms": pct(ack, 50) * 1e3,
                "ack_p99_ms": pct(ack, 99) * 1e3,
                "max_ms": max(lat) * 1e3 if lat else 0,
                "relay_cpu_share": relay_cpu / pub_wall,
                "subscriber_cpu_share_max": max(r["cpu_share"] for r in results),
                "publisher_cpu_share": pres["cpu_share"],
                "deliveries_per_s": agg["received"] / pub_wall,
            },
        }
    )
    return out


async def bench_loadgen(size: dict[str, Any]) -> dict[str, Any]:
    """The ingest and query loads against the echo relay: the load generator's own ceiling."""
    path = dataset.ensure("ingest", size["ingest"])
    async with peers.RelayProcess(peers.ECHO) as relay:
        ing = await run_worker(
            "ingest",
            "--url",
            relay.url,
            "--file",
            str(path),
            "--count",
            str(size["ingest"]),
            "--conns",
            str(size["ingest_conns"]),
            "--window",
            str(size["window"]),
            timeout=300,
        )
        q = await run_worker(
            "query",
            "--url",
            relay.url,
            "--n",
            str(size["queries"]),
            "--warmup",
            str(size["warmup"]),
            timeout=300,
        )
    lat = q.pop("latencies")
    return {
        "ingest_rate": ing["rate"],
        "ingest_cpu_share": ing["cpu_share"],
        "query_p50_ms": pct(lat, 50) * 1e3,
        "query_p99_ms": pct(lat, 99) * 1e3,
        "query_cpu_share": q["cpu_share"],
    }


async def run_relay(spec: peers.RelaySpec, benches: set[str], size: dict[str, Any]) -> dict[str, Any]:
    res: dict[str, Any] = {"errors": {}}

    async def guarded(name: str, coro: Any) -> None:
        try:
            res.update(await coro)
        except Exception as exc:  # noqa: BLE001 - one failed benchmark must not lose the others' figures
            res["errors"][name] = f"{type(exc).__name__}: {exc}"
            log(f"  {spec.name} {name} FAILED: {exc}")
            traceback.print_exc()

    if "startup" in benches:
        log(f"{spec.name}: start-up x{size['startup_reps']}")
        await guarded("startup", bench_startup(spec, size))
    if "ingest" in benches:
        log(f"{spec.name}: ingest {size['ingest']:,} events")
        await guarded("ingest", bench_ingest(spec, size))
    if benches & {"query", "fanout", "memory"}:
        log(f"{spec.name}: filling a store of {size['store']:,} events")
        try:
            relay, info = await prefilled_relay(spec, size)
        except Exception as exc:  # noqa: BLE001 - a failed fill is reported with the other relays' figures
            res["errors"]["fill"] = f"{type(exc).__name__}: {exc}"
            log(f"  {spec.name} fill FAILED: {exc}")
            return res
        res["fill"] = info
        log(f"  filled in {info['fill_seconds']:.0f} s ({info['method']}); RSS {info['rss_mb_idle']:.0f} MB")
        try:
            if "query" in benches:
                log(f"{spec.name}: query x{size['queries']}")
                await guarded("query", bench_query(relay, size))
            if benches & {"fanout", "memory"}:
                log(
                    f"{spec.name}: fan-out {size['subscribers']} subscribers, {size['rate']}/s for {size['duration']} s"
                )
                await guarded("fanout", bench_fanout(relay, size))
        finally:
            relay.cleanup()
    return res


# -- report --------------------------------------------------------------------------------------------------


ROWS = [
    ("ingest_rate", "ingest, events/s (OK true)", "{:,.0f}", True),
    ("query_p50_ms", "query p50, ms", "{:.2f}", False),
    ("query_p99_ms", "query p99, ms", "{:.2f}", False),
    ("fanout_p50_ms", "fan-out p50, ms", "{:.1f}", False),
    ("fanout_p99_ms", "fan-out p99, ms", "{:.1f}", False),
    ("fanout_dropped", "fan-out dropped", "{:,d}", False),
    ("memory_mb", "memory (RSS), MB", "{:,.0f}", False),
    ("startup_s", "start-up median, s", "{:.3f}", False),
]


def fmt(value: Any, spec: str) -> str:
    if value is None:
        return "–"
    if isinstance(value, float) and value != value:
        return "–"
    try:
        return spec.format(value)
    except (ValueError, TypeError):
        return str(value)


def table(results: dict[str, dict[str, Any]], relays: list[str], size: dict[str, Any]) -> list[str]:
    peers_ = [r for r in relays if r != "samizdat"]
    head = [
        "",
        *relays,
        *[f"samizdat/{p}" for p in peers_ if "samizdat" in relays],
        "target",
        "samizdat meets",
    ]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for key, label, spec, _higher_better in ROWS:
        row = [label]
        for r in relays:
            row.append(fmt(results.get(r, {}).get(key), spec))
        ours = results.get("samizdat", {}).get(key)
        if "samizdat" in relays:
            for p in peers_:
                theirs = results.get(p, {}).get(key)
                if isinstance(ours, int | float) and isinstance(theirs, int | float) and theirs:
                    row.append(f"{ours / theirs:.2f}")
                else:
                    row.append("–")
        target, check = TARGETS[key]
        if key == "memory_mb":
            target = f"{target} ({size['store']:,} events + {size['subscribers']:,} conns)"
        row.append(target or "–")
        row.append("–" if check is None or not isinstance(ours, int | float) else ("yes" if check(ours) else "NO"))
        lines.append("| " + " | ".join(row) + " |")
    return lines


def machine() -> dict[str, str]:
    cpu = cpu_name()
    mem = "unknown"
    with contextlib.suppress(OSError):
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal"):
                mem = f"{int(line.split()[1]) / 2**20:.1f} GiB"
    ver = {}
    for pkg in ("websockets", "orjson", "nostr-sdk", "coincurve"):
        with contextlib.suppress(Exception):
            import importlib.metadata as md

            ver[pkg] = md.version(pkg)
    return {
        "cpu": cpu,
        "cores": str(os.cpu_count()),
        "ram": mem,
        "kernel": platform.release(),
        "python": platform.python_version(),
        "packages": ", ".join(f"{k} {v}" for k, v in ver.items()),
    }


def details(
    results: dict[str, dict[str, Any]], relays: list[str], echo: dict[str, Any] | None, size: dict[str, Any]
) -> list[str]:
    out: list[str] = []
    for r in relays:
        res = results.get(r, {})
        out += [f"### {r}: {peers.RELAYS[r].description}", "", f"Storage: {peers.RELAYS[r].storage}.", ""]
        if "ingest" in res:
            i = res["ingest"]
            out.append(
                f"- ingest: {i['ok']:,} of {i['sent']:,} OK true ({i['refused']} refused)"
                f" in {i['seconds']:.2f} s; relay CPU {i['relay_cpu_share']:.0%} of a core,"
                f" load generator {i['cpu_share']:.0%}; relay RSS after {i['relay_rss_mb']:.0f} MB"
                + (f"; error: {i['error']}" if i["error"] else "")
            )
        if "fill" in res:
            f = res["fill"]
            out.append(
                f"- store: {f['events']:,} events, {f['method']}, {f['fill_seconds']:.0f} s;"
                f" idle RSS {f['rss_mb_idle']:.0f} MB"
            )
        if "query" in res:
            q = res["query"]
            out.append(
                f"- query: {q['count']:,} sequential REQs on one connection (at most"
                f" {size['query_seconds']} s), mean {res['query_mean_ms']:.2f} ms,"
                f" {q['events_per_answer']:.1f} events per answer (min {q['min_events']});"
                f" relay CPU {q['relay_cpu_share']:.0%}" + (f"; error: {q['error']}" if q["error"] else "")
            )
        if "fanout" in res:
            f = res["fanout"]
            out.append(
                f"- fan-out: {f['subscribers']:,} subscribers in {f['subscriber_procs']} processes"
                " connected in"
                f" {f['connect_seconds']:.1f} s ({f['not_ready']} without EOSE, {f['failed_connections']}"
                " failed);"
                f" {f['published']:,} posts at {f['publish']['achieved_rate']:.0f}/s ({f['accepted']:,}"
                " accepted,"
                f" OK p50 {f['ack_p50_ms']:.1f} ms, p99 {f['ack_p99_ms']:.1f} ms); {f['received']:,} of"
                f" {f['expected']:,} expected deliveries ({f['deliveries_per_s']:,.0f}/s), max"
                f" {f['max_ms']:.0f} ms,"
                f" {f['dropped']:,} dropped, {f['duplicates']} duplicates, {f['unexpected']} unexpected,"
                f" {f['closed_by_relay']} CLOSED by relay, {f['disconnected']} disconnected;"
                f" relay CPU {f['relay_cpu_share']:.0%}, busiest subscriber process"
                f" {f['subscriber_cpu_share_max']:.0%}, publisher {f['publisher_cpu_share']:.0%}"
                + (
                    f"; **the publisher's connection failed after {f['published']:,} of {f['planned']:,}"
                    f" posts: {f['publish_error']}**"
                    if f["publish_error"]
                    else ""
                )
            )
            out.append(
                f"- memory: RSS {f['rss_connected_mb']:.0f} MB with all subscribers connected, peak"
                f" {f['rss_peak_mb']:.0f} MB during the fan-out"
            )
        if "startup_all_s" in res:
            out.append("- start-up: " + ", ".join(f"{t:.3f}" for t in res["startup_all_s"]) + " s")
        for name, err in res.get("errors", {}).items():
            out.append(f"- **{name} failed**: `{err[:500]}`")
        out.append("")
    if echo:
        out += [
            "### load generator ceiling (trivial echo relay)",
            "",
            f"- ingest: {echo['ingest_rate']:,.0f} events/s (load generator CPU"
            f" {echo['ingest_cpu_share']:.0%});"
            f" query p50 {echo['query_p50_ms']:.2f} ms, p99 {echo['query_p99_ms']:.2f} ms"
            f" (load generator CPU {echo['query_cpu_share']:.0%}). The echo relay is Python too, so these are"
            " lower bounds of what the load generator can drive.",
            "",
        ]
    return out


def write_report(
    path: Path,
    results: dict[str, dict[str, Any]],
    relays: list[str],
    size: dict[str, Any],
    mode: str,
    command: str,
    echo: dict[str, Any] | None,
    skipped: dict[str, str],
) -> None:
    m = machine()
    lines = [
        "# Benchmarks",
        "",
        "Samizdat's relay side by side with nostr-sdk's `LocalRelay` (Rust) and the PyPI `nostr-relay`"
        " (Python),"
        " measured in the same run by `bench/run.py` (how it works, and its caveats: `bench/README.md`).",
        "",
        f"- date: {dt.datetime.now(dt.UTC).strftime('%Y-%m-%d %H:%M UTC')}",
        f"- command: `{command}` ({mode} sizes)",
        f"- machine: {m['cpu']}, {m['cores']} cores, {m['ram']} RAM, Linux {m['kernel']}, Python {m['python']}",
        f"- packages: {m['packages']}",
        f"- sizes: store {size['store']:,} events; ingest {size['ingest']:,} events over"
        f" {size['ingest_conns']}"
        f" connections ({size['window']} in flight each); {size['queries']:,} queries after"
        f" {size['warmup']} warm-up;"
        f" fan-out {size['subscribers']:,} subscribers, {size['rate']} posts/s for {size['duration']} s,"
        f" {size['drain']} s drain; start-up x{size['startup_reps']}",
        "",
    ]
    if mode != "full":
        lines += ["**Quick smoke run: small sizes, not comparable to the targets.**", ""]
    for r, why in skipped.items():
        lines += [f"**{r} was not measured: {why}.**", ""]
    lines += table(results, relays, size)
    lines += [
        "",
        "Ratios are samizdat's figure divided by the peer's: above 1 is better for ingest, below 1 is better"
        " for every other row. Load generator and relays share the machine's 2 cores.",
        "",
        "## Details",
        "",
    ]
    lines += details(results, relays, echo, size)
    # Sections other benchmarks own (blocked relays, web app, LAN) are kept as they are.
    with contextlib.suppress(OSError, ImportError):
        from blocking_report import kept_sections

        lines += ["", *kept_sections(path.read_text())]
    path.write_text("\n".join(lines) + "\n")


async def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="small sizes: a smoke run of a few minutes")
    parser.add_argument("--only", default=",".join(ALL_BENCHES), help="comma-separated: " + ",".join(ALL_BENCHES))
    parser.add_argument("--relays", default=",".join(peers.RELAYS))
    parser.add_argument("--no-write", action="store_true", help="do not write docs/benchmarks.md")
    parser.add_argument("--output", type=Path, default=ROOT / "docs" / "benchmarks.md")
    parser.add_argument(
        "--profile",
        action="store_true",
        help="record py-spy flame graphs of the Python relays into bench/out/ ($BENCH_PYSPY)",
    )
    args = parser.parse_args()
    global PROFILE
    PROFILE = args.profile
    benches = {b.strip() for b in args.only.split(",") if b.strip()}
    if unknown := benches - set(ALL_BENCHES):
        parser.error(f"unknown benchmarks: {', '.join(sorted(unknown))}")
    # SIGTERM/SIGHUP cancel the run like Ctrl-C does, so every process it started is killed on the way out.
    main_task = asyncio.current_task()
    assert main_task is not None
    for sig in (signal.SIGTERM, signal.SIGHUP):
        asyncio.get_running_loop().add_signal_handler(sig, main_task.cancel)
    mode = "quick" if args.quick else "full"
    size = SIZES[mode]
    command = ".venv/bin/python bench/run.py " + " ".join(shlex.quote(a) for a in sys.argv[1:])
    peers.raise_fd_limit()

    relays, skipped = [], {}
    for name in args.relays.split(","):
        spec = peers.RELAYS[name]
        why = spec.available()
        if why:
            skipped[name] = why
            log(f"skipping {name}: {why}")
        else:
            relays.append(name)

    log("preparing pre-signed data sets (cached in bench/out/)")
    if benches & {"ingest", "loadgen"}:
        dataset.ensure("ingest", size["ingest"])
    if benches & {"query", "fanout", "memory"}:
        dataset.ensure("store", size["store"])

    results: dict[str, dict[str, Any]] = {}
    echo = None
    try:
        if "loadgen" in benches:
            log("load generator ceiling against the echo relay")
            echo = await bench_loadgen(size)
            log(f"  echo: {echo}")
        for name in relays:
            results[name] = await run_relay(peers.RELAYS[name], benches, size)
    finally:
        peers._kill_all()

    shown = relays + [r for r in skipped if r not in relays]
    print()
    print("\n".join(table(results, shown, size)))
    (BENCH / "out").mkdir(exist_ok=True)
    raw = BENCH / "out" / f"results-{mode}-{time.strftime('%Y%m%d-%H%M%S')}.json"
    raw.write_text(
        json.dumps({"size": size, "results": results, "echo": echo, "skipped": skipped}, indent=1, default=str)
    )
    print(f"\nraw results: {raw.relative_to(ROOT)}")
    if not args.no_write:
        args.output.parent.mkdir(exist_ok=True)
        write_report(args.output, results, shown, size, mode, command, echo, skipped)
        print(f"report: {args.output.relative_to(ROOT) if args.output.is_relative_to(ROOT) else args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))

"""Key slots (issue 12): unlock time for real, duress and wrong passphrases, and the panic wipe of a 1 GB store.

    .venv/bin/python bench/unlock.py           # calibrate for 1 s, 20 runs each, 3 wipes; writes docs/benchmarks.md
    .venv/bin/python bench/unlock.py --runs 5 --wipe-runs 1 --no-write

Argon2id is calibrated here (``vault.calibrate``), then one slot file with two real passphrases and a duress
passphrase is unlocked ``--runs`` times with each kind of passphrase, interleaved (real, duress, wrong, real, ...)
so that other load on the machine falls on all three alike. Before each unlock the file is put back as it was
(a duress unlock erases the real slots), outside the timing. A wrong passphrase is timed without the in-process
failure delay, which comes on top by design. The wipe is timed on a data directory holding a slot file and
``--wipe-mb`` of real (not sparse) data, written and synced to disk first.

Then a whole node (``keyring.unlock``, what every command and ``serve`` do) is unlocked ``--runs`` times with its
real and with its duress passphrase, interleaved, with the same parameters: the duress unlock also swaps the
decoy store in (services/decoy.py). The data directory is restored from a copy before each unlock, outside the
timing.

Writes the ``## Key slots (issue 12)`` section of docs/benchmarks.md (every other section is kept) and the raw
figures to bench/out/unlock-*.json.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from report import machine, write_section

from samizdat.services import keyring
from samizdat.store import vault

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "bench" / "out"
TITLE = "## Key slots (issue 12)"
UNLOCK_TARGET = 1.0
WIPE_TARGET = 1.0


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def stats(times: list[float]) -> dict[str, float]:
    q = statistics.quantiles(times, n=4)
    return {
        "median": statistics.median(times),
        "stdev": statistics.stdev(times),
        "p25": q[0],
        "p75": q[2],
        "min": min(times),
        "max": max(times),
    }


def bench_unlock(work: Path, params: vault.Params, runs: int) -> dict[str, Any]:
    path = work / "keys.slots"
    unlocked = vault.create(path, "real passphrase", params=params)
    unlocked = vault.add_passphrase(unlocked, "second real passphrase")
    vault.set_duress(unlocked, "duress passphrase")
    image = path.read_bytes()
    passphrases = {"real": "real passphrase", "duress": "duress passphrase", "wrong": "not a passphrase"}
    times: dict[str, list[float]] = {kind: [] for kind in (*passphrases, "argon2id")}
    salt = vault._parse(path, image).salt
    for run in range(runs):
        order = [*passphrases, "argon2id"][run % 4 :] + [*passphrases, "argon2id"][: run % 4]
        for kind in order:
            if kind == "argon2id":  # the derivation alone, for comparison
                start = time.perf_counter()
                vault.derive("real passphrase", salt, params)
                times[kind].append(time.perf_counter() - start)
                continue
            with open(path, "r+b") as handle:
                handle.write(image)
                handle.flush()
                os.fsync(handle.fileno())
            start = time.perf_counter()
            try:
                opened = vault.unlock(path, passphrases[kind])
                outcome = opened.kind
            except vault.WrongPassphrase:
                outcome = "wrong"
            times[kind].append(time.perf_counter() - start)
            assert outcome == {"real": "real", "duress": "decoy", "wrong": "wrong"}[kind], (kind, outcome)
        log(f"run {run + 1}/{runs}: " + ", ".join(f"{k} {v[-1]:.3f} s" for k, v in times.items()))
    paired = {
        f"{a}-{b}": statistics.median(x - y for x, y in zip(times[a], times[b], strict=True))
        for a, b in (("duress", "real"), ("wrong", "real"), ("real", "argon2id"))
    }
    return {
        "runs": runs,
        "times": times,
        "stats": {kind: stats(values) for kind, values in times.items()},
        "paired_median_difference": paired,
    }


def bench_node_unlock(work: Path, params: vault.Params, runs: int) -> dict[str, Any]:
    """A node's unlock as every command does it, real and duress (which promotes the decoy store), interleaved."""
    home, image = work / "node", work / "node-image"
    keyring.create(home, "real passphrase", params)
    unlocked = keyring.open_slots(home, "real passphrase")
    keyring.set_duress(unlocked, "duress passphrase")
    follow = "30333:" + "ab" * 32 + ":weather"
    keyring.decoy_follow(home, unlocked, [follow])
    shutil.copytree(home, image)
    passphrases = {"real": "real passphrase", "duress": "duress passphrase"}
    times: dict[str, list[float]] = {kind: [] for kind in passphrases}
    for run in range(runs):
        for kind in list(passphrases)[run % 2 :] + list(passphrases)[: run % 2]:
            shutil.rmtree(home)
            shutil.copytree(image, home)
            os.sync()
            start = time.perf_counter()
            keyring.unlock(home, passphrases[kind])
            times[kind].append(time.perf_counter() - start)
        log(f"node run {run + 1}/{runs}: " + ", ".join(f"{k} {v[-1]:.3f} s" for k, v in times.items()))
    return {
        "runs": runs,
        "stats": {kind: stats(values) for kind, values in times.items()},
        "paired_median_difference": statistics.median(
            x - y for x, y in zip(times["duress"], times["real"], strict=True)
        ),
        "times": times,
    }


def bench_overhead(work: Path, runs: int) -> dict[str, float]:
    """Everything an unlock does but Argon2id (run with 64 KiB and one pass): the median, per kind, in seconds."""
    path = work / "overhead.slots"
    unlocked = vault.create(path, "real", params=vault.Params(64, 1, 1))
    vault.set_duress(vault.add_passphrase(unlocked, "second"), "duress")
    image = path.read_bytes()
    times: dict[str, list[float]] = {"real": [], "duress": [], "wrong": []}
    for _ in range(runs):
        for kind in times:
            with open(path, "r+b") as handle:
                handle.write(image)
            start = time.perf_counter()
            try:
                vault.unlock(path, kind)
            except vault.WrongPassphrase:
                pass
            times[kind].append(time.perf_counter() - start)
    return {kind: statistics.median(values) for kind, values in times.items()}


def bench_wipe(work: Path, megabytes: int, runs: int) -> dict[str, Any]:
    chunk = os.urandom(1 << 20)
    results = []
    for run in range(runs):
        home = work / f"wipe-{run}"
        home.mkdir()
        vault.create(home / vault.SLOTS_NAME, "real", params=vault.Params(64, 1, 1))
        (home / "config.toml").write_text("")
        with open(home / "events.sqlite", "wb") as store:
            for _ in range(megabytes):
                store.write(chunk)
            store.flush()
            os.fsync(store.fileno())
        on_disk = os.stat(home / "events.sqlite").st_blocks * 512
        erase_done: list[float] = []
        delete = vault._delete_tree

        def timed_delete(top: Path, delete: Any = delete, erase_done: list[float] = erase_done) -> list[str]:
            erase_done.append(time.perf_counter())
            return delete(top)

        vault._delete_tree = timed_delete  # type: ignore[assignment]
        try:
            start = time.perf_counter()
            vault.wipe(home)
            total = time.perf_counter() - start
        finally:
            vault._delete_tree = delete  # type: ignore[assignment]
        assert not home.exists()
        results.append({"total": total, "erase": erase_done[0] - start, "bytes_on_disk": on_disk})
        log(f"wipe {run + 1}/{runs}: {total:.3f} s ({on_disk / 1e9:.2f} GB on disk)")
    return {"megabytes": megabytes, "runs": results}


def filesystem(path: Path) -> str:
    try:
        out = subprocess.run(["df", "-T", str(path)], capture_output=True, text=True, check=True).stdout
        return out.splitlines()[1].split()[1]
    except (OSError, subprocess.CalledProcessError, IndexError):
        return "unknown"


def section(saved: dict[str, Any]) -> list[str]:
    params, unlock, wipe = saved["params"], saved["unlock"], saved["wipe"]
    s = unlock["stats"]
    diff = abs(s["duress"]["median"] - s["real"]["median"])
    paired = unlock["paired_median_difference"]
    spread = min(s["real"]["stdev"], s["duress"]["stdev"])
    lines = [
        TITLE,
        "",
        "`src/samizdat/store/vault.py`, measured by `bench/unlock.py`: Argon2id calibrated on this machine, then a"
        " slot file with two real passphrases and a duress passphrase unlocked with each kind of passphrase,"
        " interleaved with each other and with the Argon2id derivation alone, the file restored before each unlock"
        " (outside the timing); then a whole node unlocked as every command does (`keyring.unlock`) with its real and"
        " its duress passphrase, the duress unlock also swapping the decoy store in (services/decoy.py), the data"
        " directory restored from a copy before each. A wrong passphrase is timed"
        " without the failure delay that follows it on purpose (1 s, doubling with each failure in a row, at most"
        " 30 s). The wipe's store is real data written and synced to disk. Safety: docs/safety.md.",
        "",
        f"- date: {saved['date']}",
        f"- command: `{saved['command']}`",
        f"- machine: {saved['machine']}; file system {saved['filesystem']}; other engineers' work shares the cores",
        f"- parameters: {params['text']} (calibrated for {saved['target']:.1f} s; one derivation"
        f" {saved['derive_seconds']:.2f} s, fastest of 3)",
        "",
        f"| unlock, {unlock['runs']} runs each | median | stdev | p25-p75 | min-max |",
        "|---|---|---|---|---|",
    ]
    node = saved.get("node")
    rows = [(kind, s[kind]) for kind in ("real", "duress", "wrong", "argon2id")]
    if node is not None:
        rows += [(f"node {kind}", node["stats"][kind]) for kind in ("real", "duress")]
    for kind, k in rows:
        name = {
            "argon2id": "Argon2id alone",
            "node real": "a node, real (`keyring.unlock`)",
            "node duress": "a node, duress (erase, decoy swapped in)",
        }.get(kind, kind)
        lines.append(
            f"| {name} | {k['median']:.3f} s | {k['stdev'] * 1000:.0f} ms | {k['p25']:.3f}-{k['p75']:.3f} s"
            f" | {k['min']:.3f}-{k['max']:.3f} s |"
        )
    totals = [run["total"] for run in wipe["runs"]]
    erases = [run["erase"] for run in wipe["runs"]]
    lines += [
        "",
        "| goal | measured | target | meets |",
        "|---|---|---|---|",
        f"| unlock (real passphrase, median) | {s['real']['median']:.2f} s | about {saved['target']:g} s |"
        f" {'yes' if 0.5 <= s['real']['median'] / saved['target'] <= 2 else 'no'} |",
        f"| duress unlock vs real unlock, difference of medians | {diff * 1000:.0f} ms | below the spread"
        f" ({spread * 1000:.0f} ms, the smaller stdev) | {'yes' if diff < spread else 'no'} |",
        *node_goal(node),
        f"| panic wipe of a {wipe['megabytes'] / 1024:.3g} GiB store, worst of {len(totals)} | {max(totals):.3f} s |"
        f" ≤ {WIPE_TARGET:.0f} s | {'yes' if max(totals) <= WIPE_TARGET else 'no'} |",
        "",
        "Run by run (each kind of unlock ran next to the others, so they shared the load of the moment), the"
        f" median difference was {paired['duress-real'] * 1000:+.0f} ms for duress minus real,"
        f" {paired['wrong-real'] * 1000:+.0f} ms for wrong minus real, and {paired['real-argon2id'] * 1000:+.0f} ms"
        " for a real unlock minus Argon2id alone (the slot work, the two writes and the two fsyncs): noise of the"
        " moment. Without it (Argon2id at its smallest, 64 KiB and one pass, 300 runs of each), the rest of an"
        " unlock took "
        + ", ".join(f"{saved['overhead'][k] * 1000:.2f} ms {k}" for k in ("real", "duress", "wrong"))
        + " (medians).",
        "",
        f"The wipe's crypto-erase (overwriting the slot file in place and syncing it) took"
        f" {', '.join(f'{e * 1000:.1f}' for e in erases)} ms; deleting the directory the rest"
        f" ({', '.join(f'{t:.3f}' for t in totals)} s in all). Real, duress and wrong unlocks do the same work"
        " (one derivation, 8 slot decryptions, one table decryption, 8 slot encryptions, two writes and two"
        " fsyncs; `tests/store/test_vault.py` counts them), so what differs between them is noise.",
        "",
    ]
    return lines


def node_goal(node: dict[str, Any] | None) -> list[str]:
    """The goal row of a whole node's duress unlock against its real unlock (none for older saved figures)."""
    if node is None:
        return []
    real, duress = node["stats"]["real"], node["stats"]["duress"]
    diff, spread = abs(duress["median"] - real["median"]), min(real["stdev"], duress["stdev"])
    return [
        f"| a node's duress unlock (decoy store swapped in) vs its real unlock, difference of medians"
        f" | {diff * 1000:.0f} ms (paired: {node['paired_median_difference'] * 1000:+.0f} ms) | below the spread"
        f" ({spread * 1000:.0f} ms, the smaller stdev) | {'yes' if diff < spread else 'no'} |"
    ]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--target", type=float, default=UNLOCK_TARGET, help="seconds an unlock should take")
    parser.add_argument("--runs", type=int, default=20, help="unlocks of each kind")
    parser.add_argument("--wipe-runs", type=int, default=3)
    parser.add_argument("--wipe-mb", type=int, default=1024, help="MiB of data in the wiped store")
    parser.add_argument("--dir", type=Path, default=None, help="where to work (default: a temporary directory)")
    parser.add_argument("--no-write", action="store_true", help="do not write docs/benchmarks.md")
    parser.add_argument("--output", type=Path, default=ROOT / "docs" / "benchmarks.md")
    parser.add_argument("--from-json", type=Path, help="write the section from a saved bench/out/unlock-*.json")
    args = parser.parse_args()
    if args.from_json is not None:
        saved = json.loads(args.from_json.read_text())
    else:
        with tempfile.TemporaryDirectory(prefix="smz-unlock-", dir=args.dir) as tmp:
            work = Path(tmp)
            log(f"calibrating Argon2id for {args.target} s ...")
            params = vault.calibrate(args.target)
            derive_seconds = vault.measure(params)
            log(f"{params}: {derive_seconds:.3f} s")
            unlock = bench_unlock(work, params, args.runs)
            node = bench_node_unlock(work, params, args.runs)
            overhead = bench_overhead(work, 300)
            wipe = bench_wipe(work, args.wipe_mb, args.wipe_runs)
            fs = filesystem(work)
        extra = "".join(f" {arg}" for arg in sys.argv[1:] if arg != "--no-write")
        saved = {
            "date": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
            "command": f".venv/bin/python bench/unlock.py{extra}",
            "machine": machine(),
            "filesystem": fs,
            "target": args.target,
            "params": {
                "memory_kib": params.memory_kib,
                "iterations": params.iterations,
                "lanes": params.lanes,
                "text": str(params),
            },
            "derive_seconds": derive_seconds,
            "unlock": unlock,
            "node": node,
            "overhead": overhead,
            "wipe": wipe,
        }
        OUT.mkdir(exist_ok=True)
        (OUT / f"unlock-{time.strftime('%Y%m%d-%H%M%S')}.json").write_text(json.dumps(saved, indent=2))
    lines = section(saved)
    print("\n".join(lines))
    if not args.no_write:
        write_section(args.output, TITLE, lines)
    return 0


if __name__ == "__main__":
    sys.exit(main())

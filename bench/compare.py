"""Before/after: our relay's normal figures for an earlier revision and for the working tree, measured interleaved.

    .venv/bin/python bench/compare.py                         # HEAD~1 against the working tree, 3 rounds, full sizes
    .venv/bin/python bench/compare.py --quick                 # bench/run.py's quick sizes (a few minutes)
    .venv/bin/python bench/compare.py --rev 3119fbe --rounds 5 --only ingest,query --no-write
    .venv/bin/python bench/compare.py --rev HEAD~1 --new HEAD   # two commits (the working tree left out)

The earlier revision's ``src/`` is extracted with ``git archive`` into a temporary directory (nothing in the
repository changes: no worktree, no checkout) and put first on ``PYTHONPATH``, so our virtualenv's packages run
the old code; the new code is the working tree's ``src/`` as it is, uncommitted changes included. Each round runs
``bench/run.py --relays samizdat --only ingest,query,fanout --no-write`` once for the old code, then once for the
new (old, new, old, new, ...), so both see the same machine load over time; the harness (load generator, data
sets, sizes) is this working tree's for both. The figures are the medians over the rounds; "within 10 %" means the
new median is at most 10 % worse than the old one (lower for ingest, higher for latencies and memory).

Writes the ``## Before/after (interleaved)`` section of ``docs/benchmarks.md`` (every other section is kept) and
the raw figures to ``bench/out/compare-*.json``. Run it on a quiet machine: the figures move with other load.
"""

from __future__ import annotations

import argparse
import datetime as dt
import io
import json
import os
import shutil
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path
from typing import Any

from report import write_section

ROOT = Path(__file__).resolve().parents[1]
BENCH = ROOT / "bench"
OUT = BENCH / "out"
TITLE = "## Before/after (interleaved)"
TOLERANCE = 0.10

#: (key in bench/run.py's results, label, format, higher is better)
FIGURES = [
    ("ingest_rate", "ingest, events/s (OK true)", "{:,.0f}", True),
    ("query_p50_ms", "query p50, ms", "{:.2f}", False),
    ("query_p99_ms", "query p99, ms", "{:.2f}", False),
    ("fanout_p50_ms", "fan-out p50, ms", "{:.1f}", False),
    ("fanout_p99_ms", "fan-out p99, ms", "{:.1f}", False),
    ("fanout_dropped", "fan-out dropped", "{:,.0f}", False),
    ("memory_mb", "memory (RSS) during fan-out, MB", "{:,.0f}", False),
]


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", flush=True)


def git(*args: str) -> str:
    done = subprocess.run(["git", *args], cwd=ROOT, capture_output=True, check=False, timeout=120)
    if done.returncode != 0:
        raise SystemExit(f"git {' '.join(args)} failed: {done.stderr.decode(errors='replace').strip()}")
    return done.stdout.decode(errors="replace").strip()


def extract_src(rev: str, into: Path) -> Path:
    """``git archive REV src`` unpacked under ``into``; returns the ``src`` directory."""
    data = subprocess.run(
        ["git", "archive", "--format=tar", rev, "src"], cwd=ROOT, capture_output=True, check=True, timeout=300
    ).stdout
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        tar.extractall(into, filter="data")
    return into / "src"


def env_for(src: Path) -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = str(src) + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    return env


def check_import(src: Path) -> str:
    """Where ``import samizdat`` resolves with ``src`` first on the path (must be inside ``src``)."""
    out = subprocess.run(
        [sys.executable, "-c", "import samizdat; print(samizdat.__file__)"],
        env=env_for(src), capture_output=True, text=True, check=True, timeout=60, cwd=BENCH,
    ).stdout.strip()  # fmt: skip
    if not Path(out).resolve().is_relative_to(src.resolve()):
        raise SystemExit(f"with PYTHONPATH={src}, samizdat is imported from {out}: the comparison would be void")
    return out


def run_once(src: Path, args: argparse.Namespace) -> dict[str, Any]:
    """One ``bench/run.py`` run of our relay with ``src`` on the path; its samizdat results."""
    cmd = [sys.executable, str(BENCH / "run.py"), "--relays", "samizdat", "--only", args.only, "--no-write"]
    if args.quick:
        cmd.append("--quick")
    done = subprocess.run(cmd, env=env_for(src), capture_output=True, text=True, check=False, cwd=ROOT,
                          timeout=args.timeout)  # fmt: skip
    found = (line.split(":", 1)[1].strip() for line in done.stdout.splitlines() if line.startswith("raw results:"))
    raw = next(found, None)
    if done.returncode != 0 or raw is None:
        raise RuntimeError(f"bench/run.py failed ({done.returncode}):\n{done.stdout[-2000:]}\n{done.stderr[-3000:]}")
    results = json.loads((ROOT / raw).read_text())["results"].get("samizdat", {})
    return dict(results)


def median(values: list[Any]) -> float:
    clean = [v for v in values if isinstance(v, int | float) and v == v]
    return statistics.median(clean) if clean else float("nan")


def verdict(old: float, new: float, higher_better: bool) -> tuple[str, str]:
    """(change in %, within-10 % verdict)."""
    if old != old or new != new:
        return "–", "–"
    if old == 0:
        return ("0 %", "yes") if new == 0 else ("new", "NO" if not higher_better else "yes")
    change = (new - old) / old
    worse = -change if higher_better else change
    return f"{change:+.1%}", "yes" if worse <= TOLERANCE else "NO"


def table(runs: dict[str, list[dict[str, Any]]], keys: list[str]) -> list[str]:
    n = len(runs["old"])
    lines = [
        f"| figure | old (median of {n}) | new (median of {len(runs['new'])}) | change | within 10 % |",
        "|---|---|---|---|---|",
    ]
    for key, label, spec, higher in FIGURES:
        if key not in keys:
            continue
        old = median([r.get(key) for r in runs["old"]])
        new = median([r.get(key) for r in runs["new"]])
        change, ok = verdict(old, new, higher)
        lines.append(f"| {label} | {shown(old, spec)} | {shown(new, spec)} | {change} | {ok} |")
    return lines


def shown(value: Any, spec: str) -> str:
    if not isinstance(value, int | float) or value != value:
        return "–"
    return spec.format(value)


def problems(res: dict[str, Any]) -> list[str]:
    """What went wrong in one bench/run.py run: failed benchmarks and errors its load generators reported."""
    found = [f"{name}: {text}"[:300] for name, text in (res.get("errors") or {}).items()]
    for bench in ("ingest", "query"):
        if isinstance(res.get(bench), dict) and res[bench].get("error"):
            found.append(f"{bench}: {res[bench]['error']}"[:300])
    if isinstance(res.get("fanout"), dict) and res["fanout"].get("publish_error"):
        found.append(f"fanout: {res['fanout']['publish_error']}"[:300])
    return found


def figures_present(runs: dict[str, list[dict[str, Any]]]) -> list[str]:
    return [key for key, *_ in FIGURES if any(key in r for side in runs.values() for r in side)]


def section(saved: dict[str, Any]) -> list[str]:
    from lan import machine

    runs = saved["runs"]
    keys = figures_present(runs)
    lines = [
        TITLE,
        "",
        "Our relay's normal figures (`bench/run.py`'s ingest, query and fan-out, samizdat only) for two versions of"
        " the code, run alternately in one session (old, new, old, new, ...) so both see the same machine; medians"
        " over the rounds; new within 10 % of old means ingest at most 10 % lower, latencies and memory at most"
        " 10 % higher (`bench/compare.py`; how: `bench/README.md`).",
        "",
        f"- date: {saved['date']}",
        f"- command: `{saved['command']}`",
        f"- machine: {machine()} ({saved.get('load', 'load not recorded')})",
        f"- old: `{saved['old']}`; new: {saved['new']}",
        f"- sizes: bench/run.py {'--quick' if saved['quick'] else 'full'} sizes;"
        f" {saved['rounds']} round{'s' if saved['rounds'] != 1 else ''} of each",
        "",
    ]
    if saved["quick"]:
        lines += ["**Quick sizes: a smoke run, not comparable to the full figures above.**", ""]
    lines += table(runs, keys)
    lines += ["", "Each run (old / new):", ""]
    for key, label, spec, _higher in FIGURES:
        if key not in keys:
            continue
        pairs = zip(runs["old"], runs["new"], strict=False)
        each = [" / ".join(shown(side.get(key), spec) for side in pair) for pair in pairs]
        lines.append(f"- {label}: " + ", ".join(each))
    errors = [
        f"{side} run {i + 1}: {e}" for side in ("old", "new") for i, r in enumerate(runs[side]) for e in problems(r)
    ]
    if errors:
        lines += ["", "**Errors**: " + "; ".join(f"`{e}`" for e in errors)]
    lines.append("")
    return lines


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rev", default="HEAD~1", help="the earlier revision (default HEAD~1)")
    parser.add_argument("--new", help="compare against this revision instead of the working tree")
    parser.add_argument("--rounds", type=int, default=3, help="runs of each side, interleaved (default 3)")
    parser.add_argument("--quick", action="store_true", help="bench/run.py's quick sizes")
    parser.add_argument("--only", default="ingest,query,fanout", help="bench/run.py --only (default: these three)")
    parser.add_argument("--timeout", type=float, default=3600, help="seconds for one bench/run.py run")
    parser.add_argument("--no-write", action="store_true", help="do not write docs/benchmarks.md")
    parser.add_argument("--output", type=Path, default=ROOT / "docs" / "benchmarks.md")
    args = parser.parse_args()
    if args.rounds < 1:
        parser.error("--rounds must be at least 1")
    sys.path.insert(0, str(BENCH))
    commit = git("rev-parse", "--verify", f"{args.rev}^{{commit}}")
    old_name = f"{commit[:10]} {git('log', '-1', '--format=%s', commit)[:80]}"
    if args.new:
        new_commit = git("rev-parse", "--verify", f"{args.new}^{{commit}}")
        new_name = f"`{new_commit[:10]} {git('log', '-1', '--format=%s', new_commit)[:80]}`"
    else:
        head = git("rev-parse", "--short=10", "HEAD")
        dirty = bool(git("status", "--porcelain", "--untracked-files=no", "--", "src"))
        new_name = f"the working tree at `{head}`" + (" with uncommitted changes in src/" if dirty else "")
    load = "load average at the start {:.1f} / {:.1f} / {:.1f}".format(*os.getloadavg())
    tmp = Path(tempfile.mkdtemp(prefix="smz-compare-"))
    runs: dict[str, list[dict[str, Any]]] = {"old": [], "new": []}
    try:
        new_src = extract_src(new_commit, tmp / "new") if args.new else ROOT / "src"
        sources = {"old": extract_src(commit, tmp / "old"), "new": new_src}
        for side, src in sources.items():
            log(f"{side}: samizdat from {check_import(src)}")
        for round_ in range(args.rounds):
            for side in ("old", "new"):
                log(f"round {round_ + 1}/{args.rounds}: {side}")
                t0 = time.monotonic()
                try:
                    res = run_once(sources[side], args)
                except (RuntimeError, subprocess.TimeoutExpired) as exc:
                    log(f"  FAILED: {exc}")
                    res = {"errors": {"run": str(exc)[-500:]}}
                runs[side].append(res)
                for problem in problems(res):
                    log(f"  error: {problem}")
                shown = ", ".join(f"{k} {res[k]:.4g}" for k, *_ in FIGURES if isinstance(res.get(k), int | float))
                log(f"  {time.monotonic() - t0:.0f} s: {shown}")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    date = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    command = ".venv/bin/python bench/compare.py" + "".join(f" {a}" for a in sys.argv[1:])
    saved = {
        "date": date, "command": command, "old": old_name, "new": new_name, "quick": args.quick,
        "rounds": args.rounds, "only": args.only, "runs": runs, "load": load,
    }  # fmt: skip
    OUT.mkdir(exist_ok=True)
    (OUT / f"compare-{time.strftime('%Y%m%d-%H%M%S')}.json").write_text(json.dumps(saved, indent=1, default=str))
    lines = section(saved)
    print("\n".join(lines))
    if not args.no_write:
        write_section(args.output, TITLE, lines)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""The ``## Blocked relays`` section of ``docs/benchmarks.md``, written from the results of ``bench/failover.py``
and ``bench/netcheck.py`` (``bench/out/blocking-*.json``). Only that section is replaced; ``bench/run.py`` keeps
it when it rewrites the rest of the file (see :func:`kept_sections`)."""

from __future__ import annotations

import datetime as dt
import json
import sys
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
OUT = BENCH / "out"
DOC = ROOT / "docs" / "benchmarks.md"
TITLE = "## Blocked relays"
sys.path.insert(0, str(ROOT / "tests" / "e2e"))  # the censorship lab lives with the tests that use it
sys.path.insert(0, str(BENCH))

from report import machine  # noqa: E402


def save(name: str, data: dict[str, Any]) -> None:
    OUT.mkdir(exist_ok=True)
    data = {**data, "date": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"), "machine": machine()}
    (OUT / f"blocking-{name}.json").write_text(json.dumps(data, indent=2))
    write_section()


def _load(name: str) -> dict[str, Any] | None:
    path = OUT / f"blocking-{name}.json"
    return json.loads(path.read_text()) if path.exists() else None


def section() -> list[str]:
    lines = [
        TITLE,
        "",
        "Measured in the censorship lab of `tests/e2e/netlab.py`: network namespaces with a censoring router"
        " (lying dnsmasq, nft/iptables resets, drops and SNI matching, a block page, a MITM, a throttled hop) between"
        " the node and two `samizdat serve` relays behind TLS fronts, and an outside microsocks SOCKS5 proxy."
        " Everything shares the machine's 2 cores with whatever else runs.",
        "",
    ]
    failover = _load("failover")
    if failover:
        lines += [
            f"### Failover (`{failover['command']}`, {failover['date']}; {failover['machine']})",
            "",
            'The publisher runs `samizdat serve` with `[sync] fallback = ["socks5h://..."]`; its channel has the'
            " main relay and a mirror. At t = 0 the router starts dropping everything to the main relay, and"
            " `samizdat post` runs at once. Times until the post is stored by each relay (target: ≤ 10 s).",
            "",
            "| run | route memory | mirror, s | main relay through the proxy, s |",
            "|---|---|---|---|",
        ]
        for i, run in enumerate(failover["runs"], 1):
            lines.append(f"| {i} | {run['memory']} | {run['mirror']:.2f} | {run['proxy']:.2f} |")
        worst = max(max(r["mirror"], r["proxy"]) for r in failover["runs"])
        lines += ["", f"Worst case {worst:.2f} s: {'meets' if worst <= 10 else 'misses'} the ≤ 10 s target.", ""]
    check = _load("netcheck")
    if check:
        lines += [
            f"### netcheck over 10 relays (`{check['command']}`, {check['date']}; {check['machine']})",
            "",
            "The ten relays of the matrix (ok, NXDOMAIN, bogon DNS answer, TCP reset, SNI reset, blackhole,"
            " throttled 300 ms + 10% loss + 1 Mbit/s, MITM, block page, down), checked in one command with the"
            " proxy as control path (targets: ≤ 15 s; every class right).",
            "",
            "| run | wall time of the command, s | slowest relay, s | classes right |",
            "|---|---|---|---|",
        ]
        for i, run in enumerate(check["runs"], 1):
            lines.append(f"| {i} | {run['wall']:.2f} | {run['slowest']:.2f} | {run['right']}/{run['total']} |")
        wrong = [w for run in check["runs"] for w in run["wrong"]]
        lines += ["", "Wrong: " + (", ".join(wrong) if wrong else "none."), ""]
    return lines


def kept_sections(text: str, own: tuple[str, ...] = ("## Details",)) -> list[str]:
    """The sections of an existing ``docs/benchmarks.md`` that ``bench/run.py`` does not write: every ``## ``
    section but its own (``## Blocked relays`` from here, ``## Web app`` from bench/web.py, ``## LAN (issue 4)``
    from bench/lan.py, and any later ones)."""
    kept: list[str] = []
    sections = text.split("\n## ")[1:]
    for body in sections:
        if "## " + body.split("\n", 1)[0] not in own:
            kept += ("## " + body).rstrip("\n").split("\n") + [""]
    return kept


def write_section(path: Path = DOC) -> None:
    text = path.read_text() if path.exists() else "# Benchmarks\n"
    new = "\n".join(section()).rstrip("\n") + "\n"
    if TITLE in text:
        start = text.index(TITLE)
        end = text.find("\n## ", start + len(TITLE))
        text = text[:start] + new + (text[end + 1 :] if end >= 0 else "")
    else:
        text = text.rstrip("\n") + "\n\n" + new
    path.write_text(text)

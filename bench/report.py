"""Writing a benchmark's results into ``docs/benchmarks.md``: each script owns one ``## `` section, replaced in
place when it runs again (so the file keeps one current figure per benchmark) or appended the first time."""

from __future__ import annotations

import os
import platform
from pathlib import Path

DOC = Path(__file__).resolve().parent.parent / "docs" / "benchmarks.md"


def write_section(path: Path, title: str, lines: list[str]) -> None:
    """Replace the section headed ``title`` (a ``## `` line) of ``path`` up to the next ``## `` heading with
    ``lines`` (which start with that heading), or append them."""
    old = path.read_text().splitlines() if path.exists() else ["# Benchmarks"]
    lines = list(lines)
    while lines and not lines[-1].strip():
        lines.pop()
    start = next((i for i, line in enumerate(old) if line.strip() == title), None)
    if start is None:
        new = [*old, "", *lines]
    else:
        end = next((i for i in range(start + 1, len(old)) if old[i].startswith("## ")), len(old))
        new = [*old[:start], *lines, "", *old[end:]]
    while new and not new[-1].strip():
        new.pop()
    path.write_text("\n".join(new) + "\n")


def cpu_name() -> str:
    """The CPU's model name, from ``/proc/cpuinfo`` (or what ``platform`` knows)."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown"


def machine() -> str:
    """The machine a figure was measured on, for the line above it in docs/benchmarks.md."""
    return f"{cpu_name()}, {os.cpu_count()} cores, Linux {platform.release()}, Python {platform.python_version()}"

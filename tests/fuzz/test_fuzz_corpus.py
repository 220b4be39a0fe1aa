"""Replays every input in ``tests/fuzz/corpus/<target>/``: the seeds (``seed-*``, from fuzz_seeds.py) and every
input a fuzzer found breaking a target (``crash-*``, ``timeout-*``, ``oom-*``, saved by ``scripts/fuzz``), which
stay as regression cases once fixed. Each must keep its target's contract, within a time and a memory bound."""

from __future__ import annotations

import time
import tracemalloc
from pathlib import Path

import fuzz_targets as targets
import pytest
from fuzz_seeds import seeds

CORPUS = Path(__file__).resolve().parent / "corpus"
CASES = sorted(path for path in CORPUS.glob("*/*") if path.is_file())
MAX_SECONDS = 10.0  # scripts/fuzz's -timeout: no input may take longer
MAX_BYTES = 256 * 1024 * 1024  # Python memory at the peak of one input (bounded parsers stay far below)


def test_every_target_has_seeds_and_every_folder_a_target() -> None:
    """Seeds are written by ``.venv/bin/python tests/fuzz/fuzz_seeds.py`` (signatures differ at each run)."""
    assert {path.parent.name for path in CASES} <= set(targets.TARGETS)
    for name, named in seeds().items():
        assert {f"seed-{seed}" for seed in named} <= {p.name for p in CASES if p.parent.name == name}, name
    assert set(seeds()) == set(targets.TARGETS)


@pytest.mark.parametrize("path", CASES, ids=[f"{p.parent.name}/{p.name}" for p in CASES])
def test_corpus_case_keeps_the_contract(path: Path) -> None:
    target = targets.TARGETS[path.parent.name]
    data = path.read_bytes()
    tracemalloc.start()
    started = time.monotonic()
    try:
        target(data)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert time.monotonic() - started < MAX_SECONDS
    assert peak < MAX_BYTES

"""Deterministic, pre-signed benchmark data, cached under ``bench/out/`` so that signing is never timed.

Keys derive from a seed (``sha256(b"samizdat-bench/<role>/<i>")``), so every process can rebuild them without
sharing files. The stored data set models a relay serving many channels:

* ``ADMINS`` channel admin keys write 10% of the events (kind 1 posts, a few kind 7); the query benchmark asks
  ``{"authors":[admin],"kinds":[1],"limit":50}``, about 800 matches per admin at 1M events;
* ``OTHERS`` other keys write the rest (kinds 1 and 7 with ``t`` and ``e``/``p`` tags, 60-220 characters);
* every event is older than a day, so the fan-out subscriptions (``since`` = now) match none of them.

The ingest set is a separate file of fresh events by other keys, so each relay starts ingest from an empty
store.
Lines are the events' JSON, as sent on the wire.
"""

from __future__ import annotations

import hashlib
import os
import random
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import coincurve
import orjson

OUT = Path(__file__).resolve().parent / "out"
ADMINS = 100
OTHERS = 5000
TOPICS = [f"topic{i}" for i in range(50)]
GEOHASHES = [f"u9e{chr(97 + i // 26)}{chr(97 + i % 26)}" for i in range(100)]
WORDS = (
    "police checkpoint square metro water medic lawyer march street district minsk grodno brest news "
    "help needed closed open bridge station court fund volunteers bring food at near corner tonight"
).split()


def secret(role: str, i: int) -> bytes:
    return hashlib.sha256(f"samizdat-bench/{role}/{i}".encode()).digest()


class Signer:
    """A key that signs events quickly (coincurve directly; the same bytes ``samizdat.core.event``
    produces)."""

    def __init__(self, secret_bytes: bytes) -> None:
        self.key = coincurve.PrivateKey(secret_bytes)
        self.pubkey = self.key.public_key_xonly.format().hex()

    def sign(self, kind: int, content: str, tags: list[list[str]], created_at: int) -> bytes:
        ser = orjson.dumps([0, self.pubkey, created_at, kind, tags, content])
        digest = hashlib.sha256(ser).digest()
        sig = self.key.sign_schnorr(digest, os.urandom(32))
        return orjson.dumps(
            {
                "id": digest.hex(),
                "pubkey": self.pubkey,
                "created_at": created_at,
                "kind": kind,
                "tags": tags,
                "content": content,
                "sig": sig.hex(),
            }
        )


def admin_pubkeys() -> list[str]:
    return [Signer(secret("admin", i)).pubkey for i in range(ADMINS)]


def _text(rng: random.Random) -> str:
    n = rng.randint(10, 36)
    return " ".join(rng.choice(WORDS) for _ in range(n))


def _chunk(args: tuple[str, int, int, int, int, int]) -> list[bytes]:
    """Events ``start..stop`` of the set ``name`` (each chunk seeds its own RNG, so the set is
    reproducible)."""
    name, start, stop, total, base_time, span = args
    rng = random.Random(f"{name}/{start}")
    admins = [Signer(secret("admin", i)) for i in range(ADMINS)] if name == "store" else []
    others_role = "other" if name == "store" else "ingest"
    others: dict[int, Signer] = {}
    lines = []
    for i in range(start, stop):
        created_at = base_time + (i * span) // total + rng.randint(0, 59)
        if admins and i % 10 == 0:
            signer = admins[(i // 10) % ADMINS]
            kind = 1 if rng.random() < 0.8 else 7
        else:
            k = rng.randrange(OTHERS)
            signer = others.get(k) or others.setdefault(k, Signer(secret(others_role, k)))
            kind = 1 if rng.random() < 0.7 else 7
        tags = [["t", rng.choice(TOPICS)]]
        if kind == 7:
            tags.append(["e", hashlib.sha256(f"{name}/{i}".encode()).hexdigest()])
            tags.append(["p", signer.pubkey])
        lines.append(signer.sign(kind, _text(rng), tags, created_at))
    return lines


def ensure(name: str, n: int, workers: int | None = None, log: bool = True) -> Path:
    """Path of the cached set ``name`` ("store" or "ingest") with ``n`` events, generating it if needed."""
    OUT.mkdir(exist_ok=True)
    path = OUT / f"{name}-{n}.jsonl"
    if path.exists():
        return path
    t0 = time.perf_counter()
    # Timestamps: the 30 days ending two days ago (oldest at the start of the file, as a relay would receive
    # them).
    now = int(time.time())
    span = 30 * 86400
    base_time = now - 2 * 86400 - span
    step = 20_000
    chunks = [(name, s, min(s + step, n), n, base_time, span) for s in range(0, n, step)]
    tmp = path.with_suffix(".tmp")
    with open(tmp, "wb") as f, ProcessPoolExecutor(workers or os.cpu_count() or 2) as pool:
        for done, lines in enumerate(pool.map(_chunk, chunks), 1):
            f.write(b"\n".join(lines) + b"\n")
            if log and (done % 10 == 0 or done == len(chunks)):
                print(f"  signed {min(done * step, n):,}/{n:,} {name} events", flush=True)
    tmp.rename(path)
    if log:
        print(f"  {path.name}: {time.perf_counter() - t0:.0f} s", flush=True)
    return path


def read_lines(path: Path, limit: int | None = None) -> list[bytes]:
    lines = path.read_bytes().splitlines()
    return lines[:limit] if limit is not None else lines

"""Pre-fill the PyPI nostr-relay's SQLite database directly, as its own ``add_event`` would have written it.

Publishing 1,000,000 events to nostr-relay runs at well under 1,000 events/s here (one transaction per
event), so
filling it for the query and memory benchmarks would take 20 minutes or more. Instead, after the relay has
created
its schema (alembic, on first start) and been stopped, this writes the same rows its ``DBStorage.add_event``
and
``process_tags`` write: ``events(id, created_at, kind, pubkey, tags, sig, content)`` with binary
id/pubkey/sig and
JSON tags, and one ``tags(id, name, value)`` row per single-letter tag. The relay is then started again on it.

    fill_nostr_relay.py DB JSONL
"""

from __future__ import annotations

import sqlite3
import sys
import time

import orjson


def fill(db: str, jsonl: str, batch: int = 50_000) -> int:
    con = sqlite3.connect(db)
    con.execute("PRAGMA journal_mode=wal")
    con.execute("PRAGMA synchronous=normal")
    n = 0
    events: list[tuple[object, ...]] = []
    tags: list[tuple[object, ...]] = []

    def flush() -> None:
        with con:
            con.executemany(
                "INSERT OR IGNORE INTO events (id, created_at, kind, pubkey, tags, sig, content) "
                "VALUES (?, ?, ?, ?, ?, ?, ?)",
                events,
            )
            con.executemany("INSERT OR IGNORE INTO tags (id, name, value) VALUES (?, ?, ?)", tags)
        events.clear()
        tags.clear()

    with open(jsonl, "rb") as f:
        for line in f:
            e = orjson.loads(line)
            eid = bytes.fromhex(e["id"])
            events.append(
                (
                    eid,
                    e["created_at"],
                    e["kind"],
                    bytes.fromhex(e["pubkey"]),
                    orjson.dumps(e["tags"]).decode(),
                    bytes.fromhex(e["sig"]),
                    e["content"],
                )
            )
            seen = set()
            for t in e["tags"]:
                if len(t[0]) == 1:
                    seen.add((t[0], t[1] if len(t) > 1 else ""))
            tags.extend((eid, name, value) for name, value in seen)
            n += 1
            if len(events) >= batch:
                flush()
    flush()
    con.close()
    return n


if __name__ == "__main__":
    t0 = time.perf_counter()
    count = fill(sys.argv[1], sys.argv[2])
    print(f"PREFILLED {count} {time.perf_counter() - t0:.1f}", flush=True)

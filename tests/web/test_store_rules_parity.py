"""What a phone passes on in a bundle (web/src/rules.js ``keptByStore``, run under node) against what a node's
store keeps of the same events (a real SQLite store, and the memory store): NIP-40 expiration and NIP-09 deletion
requests by ``e`` id and by ``a`` slot, including the malformed and hostile cases (someone else's request, an
expired request, a request for a request, uppercase ids, odd ``expiration`` values)."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import orjson
import pytest

from samizdat.core import kinds
from samizdat.core.event import Event, sign_event
from samizdat.core.keys import SecretKey
from samizdat.store.memory import MemoryStore
from samizdat.store.sqlite import SqliteStore

WEB = Path(__file__).resolve().parents[2] / "web"
AUTHOR, OTHER = SecretKey(bytes([3]) * 32), SecretKey(bytes([4]) * 32)
NOW = 1_700_000_000

pytestmark = pytest.mark.skipif(shutil.which("node") is None, reason="node is needed to run the browser's rules")


def cases() -> list[Event]:
    """One event per slot (a phone keeps one version of a channel definition too; replacement is not compared)."""
    a, o = AUTHOR.public_key_hex, OTHER.public_key_hex
    out: list[Event] = []

    def ev(key: SecretKey, kind: int, tags: list[list[str]], at: int = NOW - 500, content: str = "") -> Event:
        event = sign_event(key, kind, content or f"event {len(out)}", tags, created_at=at)
        out.append(event)
        return event

    for value in ["0", str(NOW), str(NOW - 1), str(NOW + 1), "abc", "1e3", "", " 5", "１２", "9" * 12, "9" * 13]:
        ev(AUTHOR, kinds.POST, [["expiration", value]])
    ev(AUTHOR, kinds.POST, [["expiration", "x"], ["expiration", "5"]])  # the first well-formed value counts
    ev(AUTHOR, kinds.POST, [["expiration"], ["expiration", "5"]])
    post = [ev(AUTHOR, kinds.POST, []) for _ in range(8)]
    foreign = ev(OTHER, kinds.POST, [])
    ev(AUTHOR, kinds.DELETION, [["e", post[0].id]])  # honoured
    ev(OTHER, kinds.DELETION, [["e", post[1].id]])  # someone else's: ignored
    ev(AUTHOR, kinds.DELETION, [["e", foreign.id]])  # of someone else's post: ignored
    ev(AUTHOR, kinds.DELETION, [["e", post[2].id], ["expiration", str(NOW - 5)]])  # expired itself
    ev(AUTHOR, kinds.DELETION, [["e", post[3].id.upper()]])  # not 64 lowercase hex
    ev(AUTHOR, kinds.DELETION, [["e"], ["e", post[4].id, "wss://x"]])
    request = ev(AUTHOR, kinds.DELETION, [["e", post[5].id]], at=NOW - 400)
    ev(AUTHOR, kinds.DELETION, [["e", request.id]], at=NOW - 300)  # a request for a request: ignored
    ev(AUTHOR, kinds.POST, [["e", post[6].id]])  # not a deletion request
    for d, at in [("old", NOW - 900), ("new", NOW - 100), ("edge", NOW - 200), ("a:b", NOW - 900), ("mine", NOW - 900)]:
        ev(AUTHOR, 30333, [["d", d]], at=at)
    ev(AUTHOR, 30333, [["d"], ["d", "second"]], at=NOW - 900)  # a value-less d tag is not the slot's name
    ev(OTHER, 30333, [["d", "old"]], at=NOW - 900)
    ev(AUTHOR, 10002, [], at=NOW - 900)
    ev(AUTHOR, 0, [], at=NOW - 100)
    ev(AUTHOR, 30023, [["d", "x"]], at=NOW - 900)
    slots = [f"30333:{a}:old", f"30333:{a}:new", f"30333:{a}:edge", f"30333:{a}:a:b", f"30333:{a}:second",
             f"30333:{o}:old", f"30333:{o}:mine", f"10002:{a}:anything", f"0:{a}:", "30023:" + a, "x:" + a + ":x",
             f"030023:{a}:x"]  # fmt: skip
    ev(AUTHOR, kinds.DELETION, [["a", s] for s in slots], at=NOW - 200)
    return out


def kept_by_js(events: list[Event]) -> list[str]:
    payload = {"now": NOW, "events": [e.to_dict() for e in events]}
    done = subprocess.run(["node", str(WEB / "test" / "store_rules_check.mjs")], input=orjson.dumps(payload),
                          capture_output=True, timeout=60, check=False)  # fmt: skip
    assert done.returncode == 0, done.stderr.decode()
    ids: list[str] = json.loads(done.stdout)
    return ids


async def test_a_phone_keeps_what_a_node_keeps(tmp_path: Path) -> None:
    events = cases()
    ids = [e.id for e in events]
    memory = MemoryStore(clock=lambda: NOW)
    await memory.add_many(events)
    sqlite = await SqliteStore.open(tmp_path / "node.sqlite", clock=lambda: NOW)
    try:
        await sqlite.add_many(events)
        in_sqlite = await sqlite.has(ids)
    finally:
        await sqlite.close()
    assert in_sqlite == await memory.has(ids)
    assert 0 < len(in_sqlite) < len(ids)  # the cases do test something
    assert set(kept_by_js(events)) == in_sqlite
    assert set(kept_by_js(events[::-1])) == in_sqlite  # whichever order the phone saved them in

"""core/fairshare.py keeps the same posts as the web app's keepFair (web/src/keepfair.js) on the same vectors
(web/test/cache-vectors.json): a flood of newer posts by one key leaves the owner's alerts and every other
author's newest posts."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from samizdat.core.event import Event
from samizdat.core.fairshare import fair_order, keep_fair

VECTORS = Path(__file__).resolve().parents[2] / "web" / "test" / "cache-vectors.json"


def _event(e: dict[str, Any]) -> Event:
    tags = tuple(tuple(t) for t in e["tags"])
    return Event(e["id"], e["pubkey"], e["created_at"], e["kind"], tags, e["content"], "")


def test_keeps_what_the_web_apps_cache_keeps() -> None:
    cases = json.loads(VECTORS.read_text())
    assert cases
    for case in cases:
        kept = keep_fair([_event(e) for e in case["events"]], case["channel"], case["max"])
        assert sorted(e.id for e in kept) == sorted(case["kept"]), case["name"]


def test_the_owners_alerts_come_first_then_each_authors_newest() -> None:
    case = json.loads(VECTORS.read_text())[0]  # a flood of newer alerts leaves the owner's alerts
    owner = case["channel"].split(":")[1]
    order = fair_order([_event(e) for e in case["events"]], case["channel"])
    alerts = [e for e in order if e.pubkey == owner and "alert" in e.tag_values("type")]
    assert alerts
    assert order[: len(alerts)] == alerts
    assert len(order) == len(case["events"])

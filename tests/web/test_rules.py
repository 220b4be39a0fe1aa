"""The browser's channel rules (web/src/rules.js, run under node) against the Python reference, on the same events:
who may post, corrections by author or admin, retractions, deletions, revoked admins, labels, feed order, and
verifiers' vouches for channels (and their withdrawal)."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import orjson
import pytest

from samizdat.core import channel as ch
from samizdat.core import kinds, trust
from samizdat.core import posts as po
from samizdat.core import thread as th
from samizdat.core.event import Event, sign_event
from samizdat.core.filters import Filter
from samizdat.core.keys import SecretKey
from samizdat.errors import RemoteProtocolError
from samizdat.services.feed import collect_feed
from samizdat.store.memory import MemoryStore

WEB = Path(__file__).resolve().parents[2] / "web"
OWNER, ADMIN, EDITOR, STRANGER, FORMER = (SecretKey(bytes([i]) * 32) for i in range(1, 6))
V1, V2, V3 = (SecretKey(bytes([i]) * 32) for i in range(8, 11))
T = 1_700_000_000
SINCE = T + 1000
NOW = T + 5000

pytestmark = pytest.mark.skipif(shutil.which("node") is None, reason="node is needed to run the browser's rules")


def definition() -> Event:
    return ch.build_channel_event(
        OWNER, "minsk", "Minsk", created_at=T, place="BY/Minsk",
        admins={ADMIN.public_key_hex: "admin", EDITOR.public_key_hex: "editor"},
        revoked={FORMER.public_key_hex: SINCE}, mirrors=["wss://relay.example.org"],
    )  # fmt: skip


def raw(key: SecretKey, content: str, tags: list[list[str]], at: int, kind: int = kinds.POST) -> Event:
    """An event signed without the builders' checks: what a hostile or buggy client may publish."""
    return sign_event(key, kind, content, tags, created_at=at)


def scenario(channel: ch.Channel) -> tuple[list[Event], list[Event]]:
    """(originals, every event): each rule of docs/protocol.md that decides what readers see, at least once."""
    a = channel.address
    post = po.build_post
    news = post(OWNER, channel, "news", "Metro closed", created_at=T + 10, subject="Metro")
    alert = post(ADMIN, channel, "alert", "Police vans", created_at=NOW - 100, location="Market", expiration=NOW + 3600)
    help_ = post(EDITOR, channel, "help", "", created_at=T + 30, need="a driver")
    event = post(FORMER, channel, "event", "Meeting", created_at=T + 40, start=T + 9000, location="Yard 7")
    revoked = raw(FORMER, "after removal", [["a", a, ""], ["type", "news"]], SINCE + 5)
    forged = raw(STRANGER, "fake news", [["a", a, ""], ["type", "news"]], T + 50)
    expired_tags = [["a", a, ""], ["type", "alert"], ["location", "x"], ["expiration", str(NOW - 1)]]
    expired = raw(ADMIN, "old alert", expired_tags, NOW - 500)
    malformed = raw(ADMIN, "no place", [["a", a, ""], ["type", "alert"], ["expiration", str(NOW + 60)]], NOW - 10)
    future = post(OWNER, channel, "news", "tomorrow", created_at=NOW + 3600)
    appeal = post(OWNER, channel, "appeal", "", created_at=T + 60, purpose="Fines", give=("IBAN 1", "bc1q"),
                  target=("5000", "EUR"))  # fmt: skip
    safe = post(ADMIN, channel, "safe-place", "Tea", created_at=T + 70, location="Flat 3", hours="9-21")
    contact = post(OWNER, channel, "contact", "", created_at=T + 80, role="lawyer", reach="+375 29")
    hostile = raw(ADMIN, "<script>alert(1)</script>\u202e", [["a", a, ""], ["type", "news"]], T + 90)
    control = raw(ADMIN, "bell\x07", [["a", a, ""], ["type", "news"]], T + 95)
    noted = post(EDITOR, channel, "help", "Need a lift", created_at=T + 31, need="a car")
    reopened = post(EDITOR, channel, "help", "Need boots", created_at=T + 32, need="boots")
    originals = [news, alert, help_, event, revoked, forged, expired, malformed, future, appeal, safe, contact,
                 hostile, control, noted, reopened]  # fmt: skip

    amend = [
        raw(  # an admin may not rewrite the owner's post (a seized admin key would): both ignore it
            ADMIN,
            "Only one station closed",
            [["a", a, ""], ["type", "correction"], ["e", news.id, "", "correction", news.pubkey]],
            T + 100,
        ),
        po.build_correction(ADMIN, channel, help_, "A driver and a van", created_at=T + 105),
        raw(
            EDITOR,
            "editor rewrites owner's post",
            [["a", a, ""], ["type", "correction"], ["e", news.id, "", "correction", news.pubkey]],
            T + 110,
        ),
        po.build_correction(EDITOR, channel, help_, "", created_at=T + 120, status="resolved"),
        raw(
            STRANGER, "stranger", [["a", a, ""], ["type", "correction"], ["e", help_.id, "", "correction", ""]], T + 125
        ),
        raw(
            FORMER,
            "former retracts someone else's",
            [["a", a, ""], ["type", "retraction"], ["e", news.id, "", "retraction", news.pubkey]],
            T + 130,
        ),
        raw(
            OWNER,
            "",
            [["a", a, ""], ["type", "correction"], ["e", event.id, "", "correction", ""], ["end", str(T + 10)]],
            T + 135,
        ),
        po.build_correction(OWNER, channel, event, "Meeting moved", created_at=T + 140, location="Yard 9"),
        *resolutions(channel, news, noted, reopened),
    ]
    retraction, deletion = po.build_retraction(ADMIN, channel, alert, "Not confirmed", created_at=NOW - 50)
    assert deletion is not None
    retract_safe, _ = po.build_retraction(OWNER, channel, safe, "Closed for good", created_at=T + 150)
    orphan = raw(OWNER, "gone", [["a", a, ""], ["type", "retraction"], ["e", "ab" * 32, "", "retraction", ""]],
                 T + 160)  # fmt: skip
    labels = [
        po.build_label(V1, appeal, "disputed", "unsure", created_at=T + 200),
        po.build_label(V1, appeal, "confirmed", "checked", created_at=T + 210),
        po.build_label(V2, appeal, "disputed", "no", created_at=T + 220),
        po.build_label(V3, appeal, "false", "not followed", created_at=T + 230),
        po.build_label(V2, news, "confirmed", "later deleted", created_at=T + 240),
    ]
    undo = raw(V2, "", [["e", labels[-1].id], ["k", "1985"]], T + 250, kinds.DELETION)
    stray = raw(STRANGER, "not the author", [["e", contact.id]], T + 260, kinds.DELETION)
    everything = [*originals, *amend, retraction, deletion, retract_safe, orphan, *labels, undo, stray]
    return originals, everything


def resolutions(channel: ch.Channel, news: Event, noted: Event, reopened: Event) -> list[Event]:
    """Resolution notes: shown with the request's text, cleared by re-opening, and every malformed way."""
    a = channel.address

    def correction(key: SecretKey, original: Event, at: int, *extra: list[str], text: str = "") -> Event:
        return raw(key, text, [["a", a, ""], ["type", "correction"], ["e", original.id, "", "correction", ""], *extra],
                   at)  # fmt: skip

    resolved = ["status", "resolved"]
    return [
        po.build_resolution(EDITOR, channel, noted, "A neighbour drove them", created_at=T + 300),
        correction(STRANGER, noted, T + 305, resolved, ["resolution", "forged note"]),
        correction(OWNER, noted, T + 310, ["resolution", "no status"]),
        correction(OWNER, noted, T + 311, ["status", "open"], ["resolution", "open status"]),
        correction(OWNER, noted, T + 312, resolved, ["resolution", "two\nlines"]),
        correction(OWNER, noted, T + 313, resolved, ["resolution", "x" * 501]),
        correction(OWNER, noted, T + 314, resolved, ["resolution", "a"], ["resolution", "b"]),
        correction(OWNER, noted, T + 315, resolved, ["resolution", " spaced"]),
        correction(OWNER, noted, T + 316, ["need", "a van"]),  # keeps the note
        po.build_resolution(EDITOR, channel, reopened, "Found in the yard", created_at=T + 320),
        po.build_correction(EDITOR, channel, reopened, "", created_at=T + 330, status="open"),
        correction(OWNER, news, T + 340, resolved, ["resolution", "not a help request"]),
    ]


def _fields(value: Any) -> dict[str, Any]:
    data = value if isinstance(value, dict) else {n: getattr(value, n) for n in value.given()}
    return {k: list(v) if isinstance(v, tuple) else v for k, v in data.items() if v not in ("", None, (), [])}


def run_js(payload: dict[str, Any]) -> Any:
    done = subprocess.run(
        ["node", str(WEB / "test" / "rules_check.mjs")],
        input=orjson.dumps(payload), capture_output=True, timeout=60, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr.decode()
    return json.loads(done.stdout)


async def test_browser_rules_agree_with_python() -> None:
    channel = ch.parse_channel(definition())
    originals, everything = scenario(channel)
    verifiers = [V1.public_key_hex, V2.public_key_hex]
    store = MemoryStore(clock=lambda: NOW)
    await store.add_many([channel.event, *everything])
    relayed = await store.query([Filter()])  # what the node's relay serves (NIP-09 deletions applied)
    cases, expected = [], []
    for original in originals:
        related = [e for e in everything if original.id in e.tag_values("e")]
        as_json = [orjson.loads(e.to_json()) for e in related]
        cases.append({"event": orjson.loads(original.to_json()), "related": as_json})
        expected.append(th.thread_view(original, related, channel, NOW, verifiers=verifiers))
    js = run_js({
        "channel": orjson.loads(channel.event.to_json()), "now": NOW, "verifiers": verifiers, "cases": cases,
        "all": [orjson.loads(e.to_json()) for e in relayed],
    })  # fmt: skip
    statuses = set()
    for original, view, got in zip(originals, expected, js["views"], strict=True):
        what = f"{original.content[:20]!r}"
        statuses.add(view.verdict.status.value)
        assert got["status"] == view.verdict.status.value, what
        assert got["role"] == view.verdict.role, what
        assert got["text"] == view.text, what
        assert got["subject"] == view.subject, what
        assert _fields(got["fields"]) == _fields(view.fields), what
        assert got["corrections"] == [c.id for c in view.corrections], what
        assert got["retraction"] == (view.retraction.id if view.retraction else None), what
        assert got["deletion"] == (view.deletion.id if view.deletion else None), what
        assert got["labels"] == dict(view.labels), what
        assert got["ignored"] == sorted(i for i, _ in view.ignored), what
        assert got["resolution"] == view.resolution, what
    noted = {original.content: view for original, view in zip(originals, expected, strict=True)}
    assert (noted["Need a lift"].resolution, noted["Need a lift"].text) == ("A neighbour drove them", "Need a lift")
    assert noted["Need a lift"].fields.need == "a van"
    assert (noted["Need boots"].fields.status, noted["Need boots"].resolution) == ("open", "")
    assert statuses >= {"valid", "forged", "revoked", "malformed", "future", "expired"}
    python_feed = await collect_feed(store, [channel], verifiers, now=NOW, limit=1000)
    assert js["feed"] == [item.event_id if item.view else item.orphan_retraction.id for item in python_feed]  # type: ignore[union-attr]


def vouch_scenario(channel: ch.Channel) -> list[Event]:
    """Vouches for a channel's address: valid ones, every malformed way, withdrawn, untrusted, future, expired."""
    address, owner = channel.address, channel.owner
    other = f"{kinds.CHANNEL}:{STRANGER.public_key_hex}:minsk"

    def label(key: SecretKey, *tags: list[str], at: int = T + 100, value: str = po.VOUCH_VALUE) -> Event:
        return raw(key, "", [["L", po.LABEL_NAMESPACE], ["l", value, po.LABEL_NAMESPACE], *tags], at, kinds.LABEL)

    kept = po.build_vouch(V1, channel, "We met them", created_at=T + 100)
    withdrawn = po.build_vouch(V2, channel, created_at=T + 110)
    return [
        kept,
        withdrawn,
        po.build_vouch_withdrawal(V2, [withdrawn], created_at=T + 120),
        raw(V3, "", [["e", kept.id]], T + 130, kinds.DELETION),  # not the vouch's signer: ignored
        label(V2, ["a", other, ""], ["p", STRANGER.public_key_hex]),  # another channel, same verifier
        label(V3, ["a", address, ""]),  # a verifier the reader does not trust
        label(V1, ["a", address, ""], ["e", "ab" * 32]),  # an 'e' tag: a post label, not a vouch
        label(V1, ["a", address, ""], value="confirmed"),  # a post label's value on an address
        label(V1, ["a", address, ""], ["a", other, ""]),  # two channels
        label(V1, ["a", f"1:{owner}:minsk", ""]),  # not a channel's kind
        label(V1, ["a", f"{kinds.CHANNEL}:{owner}:", ""]),  # no channel id
        label(V2, ["a", address, ""], at=NOW + 3600),  # dated in the future
        label(V2, ["a", address, ""], ["expiration", str(NOW - 1)], at=T + 140),  # expired
        raw(V1, "", [["L", "other"], ["l", po.VOUCH_VALUE, "other"], ["a", address, ""]], T + 150, kinds.LABEL),
        raw(
            V1,
            "bell\x07",
            [["L", po.LABEL_NAMESPACE], ["l", po.VOUCH_VALUE, po.LABEL_NAMESPACE], ["a", address]],
            T + 160,
            kinds.LABEL,
        ),  # fmt: skip
    ]


def test_browser_vouches_agree_with_python() -> None:
    channel = ch.parse_channel(definition())
    events = vouch_scenario(channel)
    verifiers = [V1.public_key_hex, V2.public_key_hex]
    js = run_js({"vouches": {"events": [orjson.loads(e.to_json()) for e in events], "verifiers": verifiers,
                             "now": NOW}})  # fmt: skip
    for event, got in zip(events, js["parsed"], strict=True):
        if event.kind != kinds.LABEL:
            continue
        try:
            expected: str | None = po.parse_vouch(event).channel
        except RemoteProtocolError:
            expected = None
        assert got["channel"] == expected, (event.tags, got)
    counted = trust.vouchers(events, verifiers, NOW)
    assert js["vouched"] == {a: sorted(keys) for a, keys in counted.items()}
    other = f"{kinds.CHANNEL}:{STRANGER.public_key_hex}:minsk"
    assert counted == {channel.address: frozenset({V1.public_key_hex}), other: frozenset({V2.public_key_hex})}

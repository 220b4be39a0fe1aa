"""Red team, round 9 (``docs/blocking.md``), on loopback: a relay impersonated by the censor is not called
reachable (rule 6 of :mod:`samizdat.core.interference`), and netcheck's probe carries no word a censor could
recognise it by on a ``ws://`` connection. In network namespaces with nft: tests/e2e/test_redteam_censor9.py."""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import AsyncIterator

import pytest

from samizdat.core.interference import CLASSES, DATA_ENOUGH, IMPOSTOR, Dns, Measurement, Step, Transfer, classify
from samizdat.net import netcheck
from samizdat.testing import free_port


def relay(**changes: object) -> Measurement:
    """A ws:// relay whose every step up to the data went through, with the given fields changed."""
    ok = Step("ok")
    base: dict[str, object] = {"url": "ws://relay.example", "secure": False, "dns_system": Dns(("93.184.215.14",)),
                               "tcp": ok, "websocket": ok, "nip11": ok, "control": ok}  # fmt: skip
    return Measurement(**{**base, **changes})  # type: ignore[arg-type]


FULL = Transfer("ok", down=131_000, up=67_000, seconds=0.4, rate=900_000, events=110)


@pytest.mark.parametrize(
    ("data", "control", "expected"),
    [
        # The censor's relay has (next to) nothing while the relay, at the same time, sent plenty through the proxy.
        (Transfer("short", down=244, up=67_000, events=0), FULL, IMPOSTOR),
        (Transfer("short", down=20_000, up=67_000, events=17), FULL, IMPOSTOR),
        # As little through the control path: the relay just has little (rule 5's "not enough data to tell").
        (Transfer("short", down=244, up=67_000), Transfer("short", down=244, up=67_000), "ok"),
        # No control path: nothing to compare with.
        (Transfer("short", down=244, up=67_000), None, "ok"),
        # Not many times less: a relay between two of its own writes, a clamp: not an impostor.
        (Transfer("short", down=DATA_ENOUGH - 1, up=67_000), FULL, "ok"),
    ],
)
def test_an_empty_answer_where_the_control_path_has_plenty(
    data: Transfer, control: Transfer | None, expected: str
) -> None:
    verdict = classify(relay(data=data, control_data=control))
    assert verdict.cls == expected, verdict.reason
    if expected == IMPOSTOR:
        assert verdict.confirmed
        assert "something else answers in its name" in verdict.reason


def test_forged_events_are_an_impostor_without_a_control_path() -> None:
    forged = Transfer("ok", down=131_000, up=67_000, rate=900_000, events=120, forged=120)
    verdict = classify(relay(data=forged, control=None, control_data=None))
    assert (verdict.cls, verdict.confirmed) == (IMPOSTOR, True)
    assert "120 of the 120 events it sent fail their signature" in verdict.reason
    assert IMPOSTOR in CLASSES


@pytest.mark.parametrize(
    ("control", "expected"),
    [
        (Step("reset", "the proxy closed the connection"), ("tcp.reset", False)),  # cut on the way to the proxy
        (Step("timeout"), ("tcp.reset", False)),
        (Step("eof"), ("tcp.reset", False)),
        (Step("refused", "the proxy says: connection refused", proxy_said=True), ("down", True)),
        (Step("timeout", "the proxy says: TTL expired", proxy_said=True), ("down", True)),
        (Step("error", "HTTP 404 instead of a WebSocket upgrade"), ("down", True)),  # an answer through the tunnel
    ],
)
def test_only_the_proxys_word_makes_a_relay_down(control: Step, expected: tuple[str, bool]) -> None:
    verdict = classify(relay(tcp=Step("reset"), websocket=Step("skipped"), control=control))
    assert (verdict.cls, verdict.confirmed) == expected, verdict.reason


def test_a_stall_on_both_paths_is_not_down() -> None:
    stalled = Transfer("stalled", down=15_100, detail="nothing came for 5 s")
    verdict = classify(relay(data=stalled, control_data=stalled))
    assert (verdict.cls, verdict.confirmed) == ("data.stall", False)
    assert "the relay may be failing, or this network stalls the way to the proxy as well" in verdict.reason


def _ids(prefix: str, times: range) -> tuple[tuple[int, str], ...]:
    return tuple((t, f"{prefix}{t:062d}") for t in times)


@pytest.mark.parametrize(
    ("control_seen", "expected"),
    [
        # One author's events, interleaved in time with the rest, came only through the control path: withheld.
        (_ids("a", range(1000, 1100)) + _ids("b", range(1001, 1100, 4)), IMPOSTOR),
        # A busy relay: newer events arrived between the two requests: outside the span the answer here covers.
        (_ids("a", range(1000, 1100)) + _ids("n", range(1100, 1160)), "ok"),
        # The budget cut between events of the same second at the answer's oldest: not counted.
        (_ids("a", range(1000, 1100)) + _ids("t", range(1000, 1001)) * 9, "ok"),
        # A few differences (a replica a moment behind): under the threshold.
        (_ids("a", range(1000, 1100)) + _ids("c", range(1050, 1054)), "ok"),
        # A busy relay with an event dated far ahead in the answer here: what came between the two requests is
        # still newer than the newest event both got.
        (_ids("a", range(1000, 1100)) + _ids("f", range(9000, 9001)) + _ids("n", range(1100, 1160)), "ok"),
        # Nothing in common (every event new by the time the control path asked): nothing to compare.
        (_ids("n", range(1100, 1200)), "ok"),
    ],
)
def test_events_withheld_in_the_relays_name(control_seen: tuple[tuple[int, str], ...], expected: str) -> None:
    seen = _ids("a", range(1000, 1100)) + _ids("f", range(9000, 9001))
    here = Transfer("ok", down=131_000, up=67_000, rate=900_000, events=101, seen=seen, asked_at=1160)
    there = Transfer("ok", down=131_000, up=67_000, rate=900_000, events=len(control_seen), seen=control_seen)
    verdict = classify(relay(data=here, control_data=there))
    assert verdict.cls == expected, verdict.reason
    if expected == IMPOSTOR:
        assert "25 events the relay sent through the control path" in verdict.reason
        assert "withholds" in verdict.reason


class Impostor:
    """A WebSocket server on loopback answering as a relay, with forged events; it keeps every text frame and
    HTTP request line and header it was sent, as a DPI box on a ``ws://`` path sees them."""

    def __init__(self) -> None:
        self.port = free_port()
        self.seen: list[str] = []

    async def handler(self, ws: object) -> None:
        async for raw in ws:  # type: ignore[attr-defined]
            self.seen.append(str(raw))
            message = json.loads(raw)
            if message[0] == "REQ":
                if "ids" not in (message[2] if len(message) > 2 else {}):
                    for i in range(150):
                        event = {"id": os.urandom(32).hex(), "pubkey": "ab" * 32, "created_at": 1700000000 + i,
                                 "kind": 1, "tags": [], "content": "x" * 1000, "sig": os.urandom(64).hex()}  # fmt: skip
                        frame = json.dumps(["EVENT", message[1], event])
                        self.seen.append(frame)
                        await ws.send(frame)  # type: ignore[attr-defined]
                await ws.send(json.dumps(["EOSE", message[1]]))  # type: ignore[attr-defined]

    def process_request(self, connection: object, request: object) -> object:
        self.seen.append(str(request.path))  # type: ignore[attr-defined]
        self.seen += [f"{k}: {v}" for k, v in request.headers.raw_items()]  # type: ignore[attr-defined]
        if request.headers.get("Accept") == "application/nostr+json":  # type: ignore[attr-defined]
            return connection.respond(200, '{"name": "relay"}')  # type: ignore[attr-defined]
        return None


@pytest.fixture
async def impostor() -> AsyncIterator[Impostor]:
    from websockets.asyncio.server import serve

    server = Impostor()
    async with serve(server.handler, "127.0.0.1", server.port, compression=None,
                     process_request=server.process_request):  # fmt: skip
        yield server


async def test_netcheck_calls_a_relay_sending_forged_events_an_impostor(impostor: Impostor) -> None:
    result = await netcheck.measure(f"ws://127.0.0.1:{impostor.port}", netcheck.Options(step_timeout=5))
    assert result.verdict.cls == IMPOSTOR, result.verdict
    data = result.to_dict()["steps"]["data"]
    assert data["events"] == data["forged"] > 0


async def test_netchecks_probe_does_not_name_itself_on_the_wire(impostor: Impostor) -> None:
    """Over ``ws://`` everything the relay echoes (subscription ids) and the NIP-11 request travel in clear: a
    censor that finds netcheck's name there can spare the probe and stall the syncs. Nothing says netcheck."""
    await netcheck.measure(f"ws://127.0.0.1:{impostor.port}", netcheck.Options(step_timeout=5))
    await asyncio.sleep(0)
    assert impostor.seen
    named = [line[:80] for line in impostor.seen if "netcheck" in line.lower()]
    assert not named

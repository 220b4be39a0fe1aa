"""Valid inputs for every fuzz target: the starting points of coverage-guided fuzzing, and of the hypothesis
tests' mutations. ``python tests/fuzz/fuzz_seeds.py`` writes them as ``tests/fuzz/corpus/<target>/seed-<name>``
(the replay test reads them back with every regression case); run it again after changing a seed here."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import orjson
from fuzz_targets import CLIENT_STORAGE, EVENTS, KEY, NOW, OTHER, SERVER_STORAGE

from samizdat.core import channel as ch
from samizdat.core import kinds, nip19
from samizdat.core import posts as po
from samizdat.core.bundle import HEADER_SIZE, BundleWriter
from samizdat.core.event import Event, sign_event
from samizdat.core.negentropy import Negentropy
from samizdat.core.reachability import build_report
from samizdat.core.relaylist import RelayList, build_relay_list

CORPUS = Path(__file__).resolve().parent / "corpus"


def _lines(*messages: object) -> bytes:
    return b"\n".join(orjson.dumps(m) for m in messages)


def sample_events() -> list[Event]:
    """Events of every shape the node meets: plain, tagged, with escapes and non-ASCII text, a channel, posts."""
    channel_event = ch.build_channel_event(
        KEY, "frunzenski", "Frunzenski district", created_at=NOW, about="News\nfor the district", place="BY/Minsk",
        admins={OTHER.public_key_hex: "admin"}, mirrors=["wss://relay.example.org"],
    )  # fmt: skip
    channel = ch.parse_channel(channel_event)
    made = [
        EVENTS[0],
        sign_event(
            KEY, 1, 'Вада адключана "да" 18:00\t\\ \u2028 \x01 🙂', [["e", "0" * 64], ["t", "minsk"]], created_at=NOW
        ),  # fmt: skip
        sign_event(OTHER, 5, "", [["e", EVENTS[0].id], ["expiration", str(NOW + 60)]], created_at=NOW + 1),
        channel_event,
        po.build_post(KEY, channel, "news", "Metro closed", created_at=NOW + 2, subject="Metro"),
        po.build_post(OTHER, channel, "alert", "Police vans", created_at=NOW + 3, location="Market"),
        po.build_post(KEY, channel, "help", "Need a driver", created_at=NOW + 4, need="transport"),
        po.build_label(OTHER, EVENTS[0], "confirmed", "seen", created_at=NOW + 5),
        build_report(KEY, "wss://relay.example.org", "dns.nxdomain", now=NOW, country="BY"),
        build_relay_list(KEY, RelayList(read=("wss://a.example",), write=("ws://10.0.0.1:4848",)), created_at=NOW),
    ]
    return [_fixed(event) for event in made]


def _fixed(event: Event) -> Event:
    """``event`` signed without fresh randomness, so that the seed files come out the same at every run."""
    key = KEY if event.pubkey == KEY.public_key_hex else OTHER
    return dataclasses.replace(event, sig=key.sign(bytes.fromhex(event.id), aux_randomness=bytes(32)).hex())


def _bundle(events: list[Event], block_bytes: int = 64 * 1024) -> bytes:
    writer = BundleWriter(created_at=NOW, bundle_id=bytes(range(16)), block_bytes=block_bytes)
    out = b"".join(writer.add(event) or b"" for event in events) + writer.finish()
    return writer.header(total_parts=1) + out[HEADER_SIZE:]


def _txt(**values: str) -> bytes:
    out = b""
    for key, value in values.items():
        entry = f"{key}={value}".encode()
        out += bytes([len(entry)]) + entry
    return out


def seeds() -> dict[str, dict[str, bytes]]:
    events = sample_events()
    client = Negentropy(CLIENT_STORAGE)
    opening = client.initiate()
    framed = Negentropy(CLIENT_STORAGE, 4096).initiate()
    reply = Negentropy(SERVER_STORAGE).reconcile(opening)
    sub_filter = {"kinds": [1], "since": NOW - 10, "#t": ["minsk"], "limit": 5}
    nevent = nip19.nevent_encode(EVENTS[0].id, ["wss://relay.example.org"], author=KEY.public_key_hex, kind=1)
    naddr = nip19.naddr_encode(30078, KEY.public_key_hex, "frunzenski", ["wss://relay.example.org", "ws://10.0.0.1"])
    request = b"GET %s HTTP/1.1\r\nHost: 10.42.0.1:4848\r\n%s\r\n"
    upgrade = (b"Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
               b"Sec-WebSocket-Version: 13\r\n")  # fmt: skip
    return {
        "relay_message": {
            "event": _lines(["EVENT", events[1].to_dict()]),
            "session": _lines(
                ["REQ", "sub", sub_filter, {"ids": [EVENTS[0].id]}],
                ["COUNT", "c", {"authors": [KEY.public_key_hex]}],
                ["EVENT", events[4].to_dict()],
                ["CLOSE", "sub"],
                ["NEG-OPEN", "n", {}, opening.hex()],
                ["NEG-MSG", "n", "61"],
                ["NEG-CLOSE", "n"],
                ["AUTH", "x"],
                ["REQ", "sub", {"search": "metro"}],
            ),  # fmt: skip
        },
        "relay_nip77": {
            "sync": _lines(
                ["NEG-OPEN", "n", {"kinds": [1]}, opening.hex()], ["NEG-MSG", "n", reply.hex()], ["NEG-CLOSE", "n"]
            ),  # fmt: skip
            "framed": _lines(["NEG-OPEN", "m", {}, framed.hex()]),
        },
        "negentropy": {"initiate": opening, "framed": b"\x01" + framed[1:], "reply": reply},
        "filter": {
            "full": orjson.dumps(
                {
                    **sub_filter,
                    "ids": [EVENTS[0].id],
                    "authors": [KEY.public_key_hex],
                    "until": NOW,
                    "search": "metro",
                    "#e": [EVENTS[1].id],
                }
            ),  # fmt: skip
            "empty": b"{}",
        },
        "event": {f"event-{i}": event.to_json() for i, event in enumerate(events)},
        "event_content": {
            f"content-{i}": orjson.dumps({"kind": e.kind, "tags": [list(t) for t in e.tags], "content": e.content})
            for i, e in enumerate(events[3:])
        },
        "nip19": {
            "npub": nip19.npub_encode(KEY.public_key_hex).encode(),
            "nsec": nip19.nsec_encode(KEY.secret.hex()).encode(),
            "note": ("nostr:" + nip19.note_encode(EVENTS[0].id)).encode(),
            "nprofile": nip19.nprofile_encode(KEY.public_key_hex, ["wss://relay.example.org"]).upper().encode(),
            "nevent": nevent.encode(),
            "naddr": f"  {naddr}\n".encode(),
        },
        "bundle": {"one-block": _bundle(events), "blocks": _bundle(events, block_bytes=256)},
        "bundle_file": {"one-block": _bundle(events[:3])},
        "mdns_txt": {
            "node": b"\x12\xf0\x01\x01\x02" + _txt(id="0123456789abcdef", v="1", hub="0", name=""),
            "hub": b"\x12\xf0\x02\x00\x07\x02\x14" + _txt(id="fedcba98", v="1", hub="1", name="Block 7 hub"),
        },
        "http_request": {
            "index": request % (b"/", b"Accept-Encoding: gzip, br\r\n"),
            "status": request % (b"/api/status?x=1", b""),
            "nip11": request % (b"/", b"Accept: application/nostr+json\r\n"),
            "asset": request % (b"/app.js", b'If-None-Match: "x"\r\n'),
            "upgrade": request % (b"/", upgrade),
            "missing": request % (b"/nothing", b""),
        },
        "operator_request": {
            "post": orjson.dumps(
                {
                    "id": 1,
                    "sign": {
                        "kind": kinds.POST,
                        "content": "Water is off",
                        "created_at": NOW,
                        "tags": [["a", "30078:" + KEY.public_key_hex + ":frunzenski"]],
                    },
                }
            ),
            "label": orjson.dumps({"id": "x", "sign": {"kind": 1985, "content": "", "tags": [], "created_at": 0}}),
        },  # fmt: skip
    }


def main() -> None:
    for target, named in seeds().items():
        folder = CORPUS / target
        folder.mkdir(parents=True, exist_ok=True)
        for name, data in named.items():
            (folder / f"seed-{name}").write_bytes(data)


if __name__ == "__main__":
    main()

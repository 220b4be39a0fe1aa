"""What the command line prints, from the data the services return: words a person understands."""

from __future__ import annotations

import asyncio
import socket
from pathlib import Path
from typing import Any

import pytest

from samizdat.cli import error_sentence
from samizdat.cli.common import check_proxies, state
from samizdat.cli.netcheck import _result_text
from samizdat.cli.status import status_text
from samizdat.cli.sync import _export_text, _import_text, _trouble
from samizdat.core.interference import CLASSES
from samizdat.errors import UsageError
from samizdat.net.failover import Routing
from samizdat.store.bundles import FileReport


def result(url: str, cls: str, reason: str) -> dict[str, Any]:
    return {"url": url, "class": cls, "reason": reason, "confirmed": False, "seconds": 0.01, "steps": {}}


def test_netcheck_explains_each_class_it_shows() -> None:
    data = {
        "results": [
            result("wss://relay.example", "dns.nxdomain", "the local resolver says the name does not exist"),
            result("wss://other.example", "tls.reset.sni", "the handshake naming the relay was reset"),
            result("wss://fine.example", "ok", "the relay answered in 0.120 s"),
            result("wss://again.example", "dns.nxdomain", "the local resolver says the name does not exist"),
        ],
        "control": "",
        "reported": 0,
    }
    lines = _result_text(data).splitlines()
    legend = lines[lines.index("What this means:") + 1 :]
    assert [line.split()[0] for line in legend[:2]] == ["dns.nxdomain", "tls.reset.sni"]  # each once, ok not
    assert CLASSES["dns.nxdomain"] in legend[0]
    assert CLASSES["tls.reset.sni"] in legend[1]
    assert legend[2].startswith("Without a control path")
    assert "report" not in "\n".join(lines)  # reports were not asked for


def test_netcheck_says_why_it_reported_nothing() -> None:
    data = {"results": [result("ws://192.168.1.20:4848", "ok", "the relay answered in 0.004 s")],
            "control": "tor", "reported": 0, "report": {"country": "BY"},
            "not_reported": ["ws://192.168.1.20:4848"]}  # fmt: skip
    text = _result_text(data)
    assert "What this means" not in text  # only "ok": nothing to explain
    assert "Published 0 anonymous reachability reports." in text
    assert "Not reported: ws://192.168.1.20:4848 (a loopback or private address says nothing" in text
    assert _result_text({"results": [], "control": "", "reported": 0}).startswith("No relays to check")


def test_a_class_from_a_newer_node_is_still_shown() -> None:
    text = _result_text({"results": [result("wss://r.example", "quic.blocked", "?")], "control": "x", "reported": 0})
    assert "quic.blocked  a class this version does not know" in text


def status_document(**outbox: Any) -> dict[str, Any]:
    return {
        "npub": "npub1me", "home": "/home/me/.samizdat", "store": {"events": 12, "addressable": 3},
        "serving": None, "follows": 1, "peers": [],
        "outbox": {"pending": [], "failed": [], "accepted": 5, "superseded": 0, **outbox},
        "relays": [{"url": "wss://relay.example", "delivered": 5, "pending": 1, "failed": 0, "reachable": False,
                    "last_success": 1_800_000_000, "last_error": "error: cannot connect to wss://relay.example."}],
    }  # fmt: skip


def test_status_is_a_summary_first_and_each_post_only_when_asked() -> None:
    waiting = [{"event": "ab" * 32, "relay": "wss://relay.example", "attempts": 1, "next_attempt": 1_800_000_060,
                "last": "error: cannot connect to wss://relay.example."}]  # fmt: skip
    doc = status_document(pending=waiting, superseded=2)
    text = status_text(doc, now=1_800_000_120)
    assert "Delivery: 5 delivered, 1 waiting, 0 failed (2 no longer needed: replaced, retracted or expired)" in text
    assert "  wss://relay.example: 5 delivered, 1 waiting; does not answer, last synced 2 min ago" in text
    assert "last error: cannot connect to wss://relay.example\n" in text + "\n"  # no "error: error:", no "."
    assert "abababababab" not in text
    assert "addressable" not in text
    assert "1800000" not in text  # times as a person reads them
    verbose = status_text(doc, verbose=True, now=1_800_000_120)
    assert "  waiting abababababab -> wss://relay.example (1 try, next " in verbose
    assert verbose.rstrip().endswith(": cannot connect to wss://relay.example)")


def test_import_reports_each_trouble_once() -> None:
    unreadable = FileReport(Path("/tmp/notes.txt"), error="this is not a Samizdat bundle (wrong magic bytes)")
    damaged = FileReport(Path("/tmp/a.part2.smz"), new=3, invalid=5, problems=("block 1 is damaged",), part=2,
                         total_parts=3, bundle_id="ab" * 16)  # fmt: skip
    tampered = FileReport(Path("/tmp/b.smz"), new=4, invalid=1, part=1, total_parts=1, bundle_id="cd" * 16)
    assert _trouble(unreadable) == "cannot import notes.txt: this is not a Samizdat bundle (wrong magic bytes)"
    assert _trouble(damaged) == (
        "the bundle a.part2.smz is damaged (block 1 is damaged): 3 events imported, 5 events lost"
    )
    assert _trouble(tampered) == "in b.smz, 1 event failed verification and was not imported"
    capitalised = FileReport(Path("Notes.TXT"), error="no")
    assert error_sentence(UsageError(_trouble(capitalised))) == "cannot import Notes.TXT: no"  # the name stays
    report = {"new": 7, "duplicate": 0, "invalid": 6, "rejected": 0, "missing_parts": {"ab" * 16: [1, 3]},
              "files": [{"path": "/tmp/notes.txt", "error": unreadable.error, "complete": False},
                        {"path": "/tmp/c.smz", "error": None, "complete": True, "new": 7, "duplicate": 0,
                         "part": 2, "total_parts": 3}]}  # fmt: skip
    text = _import_text(report)
    assert text.splitlines() == [
        "Imported: 7 new, 0 duplicate, 6 invalid",
        "  c.smz (part 2 of 3): 7 new, 0 duplicate",
        "Not among these files: parts 1, 3 of bundle abababab (each part imports on its own)",
    ]
    assert "magic" not in text  # the error says it, once


def test_export_names_every_part() -> None:
    one = {"files": ["/tmp/news.smz"], "events": 1, "skipped": 0}
    assert _export_text(one) == "Exported 1 event to /tmp/news.smz"
    parts = {"files": ["/tmp/news.smz", "/tmp/news.part2.smz"], "events": 40, "skipped": 2}
    assert _export_text(parts) == (
        "Exported 40 events in 2 parts: /tmp/news.smz, /tmp/news.part2.smz (import them in any order)\n"
        "2 events too large for a part left out"
    )


@pytest.mark.parametrize(
    ("raised", "shown"),
    [
        ("Unknown post type 'x'; known types: news.", "unknown post type 'x'; known types: news"),
        ("NIP-65 relay list is empty.", "NIP-65 relay list is empty"),
        ("A label is one of: confirmed...", "a label is one of: confirmed..."),
        ("no post 00ff in this node's store", "no post 00ff in this node's store"),
    ],
)
def test_errors_read_as_one_lower_case_sentence(raised: str, shown: str) -> None:
    assert error_sentence(UsageError(raised)) == shown


def test_a_proxy_named_on_the_command_line_that_does_not_answer_is_said_at_once(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    with socket.socket() as listening:  # a port where something answers, and one where nothing does
        listening.bind(("127.0.0.1", 0))
        listening.listen()
        alive = listening.getsockname()[1]
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            dead = probe.getsockname()[1]
        routing = Routing(tor=f"socks5h://127.0.0.1:{dead}")
        monkeypatch.setattr(state, "proxy", None)
        monkeypatch.setattr(state, "via", ("tor", f"wss://r.example=socks5h://127.0.0.1:{alive}", "direct"))
        asyncio.run(check_proxies(routing))
        monkeypatch.setattr(state, "via", ())
        monkeypatch.setattr(state, "proxy", f"http://user:secret@127.0.0.1:{dead}")
        asyncio.run(check_proxies(routing))
    lines = capsys.readouterr().err.splitlines()
    assert lines == [
        f"warning: Tor is not running at 127.0.0.1:{dead}: connection refused; nothing goes through it until it "
        "does (posts wait in the outbox)",
        f"warning: the proxy at 127.0.0.1:{dead} does not answer: connection refused; nothing goes through it "
        "until it does (posts wait in the outbox)",
    ]

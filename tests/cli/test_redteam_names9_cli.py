"""Red team round 9, names and text that lie, on the command line (real ``samizdat`` processes, bundle files).

- A police copy of "Minsk" named "Minks" (two letters swapped), or of "Гомель" named "Гомиль" in its own place,
  was followed at one command by a reader following the real one, and listed unmarked: round 7 compared only
  words of 7 letters or more.
- A copy whose definition names a mirror with a zero-width space ("wss://relay\\u200b.example.org") made
  ``samizdat channel list`` fail for the reader, every channel's line with it ("a relay address in a shared code
  must be printable ASCII"); ``channel show`` printed the mirror as the real relay's.
- A bundle file named with an escape sequence (a file on a stick is anyone's) rewrote the reader's terminal when
  ``samizdat import`` listed the files it read; so did a LAN neighbour's mDNS name in ``serve -v``'s log.
- An event post starting in the year 33658 made ``samizdat feed`` fail whole."""

from __future__ import annotations

import hashlib
import re
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import orjson
from cli_e2e import e2e

from samizdat.core import kinds
from samizdat.core.bundle import BundleHeader, encode_block, encode_header, encode_trailer
from samizdat.core.channel import build_channel_event
from samizdat.core.event import Event, sign_event
from samizdat.core.keys import SecretKey

#: What must never reach a terminal from the network: controls (escape sequences), zero-width characters, bidi.
HIDDEN = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u200b-\u200f\u202a-\u202e\u2060-\u2069\ufeff]")


def _reader_with(tmp_path: Path, real: tuple[str, str], *fakes: tuple[str, str, str]) -> tuple[Any, Any, list[Any]]:
    """A reader who imported the real channel (name, place) and the police's copies (short id, name, place)."""
    owner, police, reader = (e2e.Cli(tmp_path / name) for name in ("owner", "police", "reader"))
    for cli in (owner, police, reader):
        cli.ok("init")
    made = owner.json("channel", "create", "real", "--name", real[0], "--place", real[1])
    copies = [police.json("channel", "create", short, "--name", name, "--place", place) for short, name, place in fakes]
    owner.ok("export", "-o", str(tmp_path / "owner.smz"))
    police.ok("export", "-o", str(tmp_path / "police.smz"))
    reader.ok("import", str(tmp_path / "owner.smz"), str(tmp_path / "police.smz"))
    return reader, made, copies


def test_a_short_name_a_letter_away_is_refused_and_marked(tmp_path: Path) -> None:
    reader, real, (swapped, changed) = _reader_with(
        tmp_path, ("Гомель", "BY/Homel"), ("swapped", "Гоемль", "BY/Minsk"), ("changed", "Гомиль", "BY/Homel")
    )
    reader.ok("follow", real["naddr"])
    rows = {row["address"]: row for row in reader.json("channel", "list")}
    for fake in (swapped, changed):
        refused = reader.fails("follow", fake["naddr"])
        assert "not the channel you follow" in refused.err
        assert rows[fake["address"]]["warned"] is True
        feed = reader.ok("feed", fake["naddr"]).out
        assert feed.splitlines()[0].startswith("!! NOT THE CHANNEL YOU FOLLOW: another key, made to look like Гомель")
    assert rows[real["address"]]["warned"] is False


def test_a_mirror_with_an_invisible_character_is_shown_and_breaks_no_list(tmp_path: Path) -> None:
    owner, police, reader = (e2e.Cli(tmp_path / name) for name in ("owner", "police", "reader"))
    for cli in (owner, police, reader):
        cli.ok("init")
    real = owner.json("channel", "create", "minsk", "--name", "Minsk", "--mirror", "wss://relay.example.org")
    fake = police.json("channel", "create", "minsk", "--name", "Minks", "--mirror", "wss://relay\u200b.example.org")
    for who, cli in (("owner", owner), ("police", police)):
        cli.ok("export", "-o", str(tmp_path / f"{who}.smz"))
    reader.ok("import", str(tmp_path / "owner.smz"), str(tmp_path / "police.smz"))

    listed = reader.ok("channel", "list").out
    assert "Minsk" in listed
    assert "Minks" in listed
    assert "ANOTHER CHANNEL HAS A NAME LIKE THIS ONE" in listed  # two swapped: both marked, for a new reader
    shown = reader.ok("channel", "show", fake["address"], "--no-qr").out
    assert "Mirrors: wss://relay\\u{200b}.example.org" in shown
    assert not HIDDEN.search(shown)
    assert "Mirrors: wss://relay.example.org" in reader.ok("channel", "show", real["address"], "--no-qr").out


def test_a_bundle_file_name_cannot_write_to_the_terminal(tmp_path: Path) -> None:
    police, reader = e2e.Cli(tmp_path / "police"), e2e.Cli(tmp_path / "reader")
    police.ok("init")
    reader.ok("init")
    police.ok("channel", "create", "lida", "--name", "Lida")
    police.ok("export", "-o", str(tmp_path / "a.smz"))
    named = tmp_path / "news\x1b]0;police\x07\x1b[2J\u202ezms.smz"
    (tmp_path / "a.smz").rename(named)
    broken = tmp_path / "b\x1b[31m.smz"
    broken.write_bytes(b"not a bundle at all")

    done = reader("import", str(named), str(broken))
    assert done.code == 1  # the broken one is said once, as an error
    assert not HIDDEN.search(done.out + done.err), done.out + done.err
    assert "news]0;police[2Jzms.smz: 1 new, 0 duplicate" in done.out
    assert "cannot import b[31m.smz" in done.err


LOGGED = """
import logging, sys
from samizdat.cli import app
app(["--home", sys.argv[1], "-v", "status"], standalone_mode=False)
logging.getLogger("samizdat.mesh.discovery").info("could not resolve %s: %s", sys.argv[2], "timeout")
"""


def test_a_log_line_cannot_write_to_the_terminal(tmp_path: Path) -> None:
    """``samizdat serve -v`` logs a LAN neighbour's mDNS service name (mesh/discovery.py) as it came: the log
    of every command is neutralised now."""
    home = e2e.Cli(tmp_path / "home")
    home.ok("init")
    forged = "node\x1b]0;police\x07\x1b[2J\u202elacol._samizdat._tcp.local."
    done = subprocess.run(
        [sys.executable, "-c", LOGGED, str(home.home), forged], capture_output=True, text=True, timeout=60,
        env=e2e.cli_env(), stdin=subprocess.DEVNULL, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "could not resolve node]0;police[2Jlacol._samizdat._tcp.local.: timeout" in done.stderr
    assert not HIDDEN.search(done.stderr)


def _bundle(events: list[Event]) -> bytes:
    """One bundle file of ``events`` (signed here: a hostile key writes what no `samizdat post` would)."""
    records = [orjson.dumps(e.to_dict()) + b"\n" for e in events]
    content = b"".join(records)
    head = encode_header(BundleHeader(1, 1, bytes(16), int(time.time()), len(records), len(content)))
    trailer = encode_trailer(1, len(records), len(content), hashlib.sha256(content).digest())
    return head + encode_block(0, content, len(records)) + trailer


def test_an_event_dated_past_the_calendar_does_not_stop_the_feed(tmp_path: Path) -> None:
    """A post's ``start`` is any 12 digits: 999999999999 is the year 33658, which Python's calendar does not
    reach, and ``samizdat feed`` failed whole ("unexpected ValueError: year 33658 is out of range"), every
    followed channel's posts with it."""
    reader = e2e.Cli(tmp_path / "reader")
    reader.ok("init")
    key, now = SecretKey(bytes([93]) * 32), int(time.time())
    definition = build_channel_event(key, "yard", "Lida", place="BY/Lida", created_at=now - 100)
    address = f"{kinds.CHANNEL}:{key.public_key_hex}:yard"
    far = sign_event(key, kinds.POST, "Meeting", [["a", address], ["type", "event"], ["start", "999999999999"],
                                                  ["location", "Yard of Lenina 40"]], created_at=now - 50)  # fmt: skip
    alert = sign_event(key, kinds.POST, "Police at the metro", [["a", address], ["type", "news"]], created_at=now - 40)
    (tmp_path / "yard.smz").write_bytes(_bundle([definition, far, alert]))
    reader.ok("import", str(tmp_path / "yard.smz"))
    reader.ok("follow", address)

    feed = reader.ok("feed").out
    assert "Police at the metro" in feed
    assert "starts: after the year 9999" in feed

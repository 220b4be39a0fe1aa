"""Bad input never gives a traceback: every command refuses it with a non-zero exit code and one sentence on
standard error starting with ``error:`` (or click's usage message for a malformed option).

The commands are independent of each other, so a module fixture runs them all at once in a few threads (this
is a busy two-core machine: one process at a time would take minutes), and each case then checks its own result.
"""

from __future__ import annotations

import re
import shutil
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, NamedTuple

import pytest

from samizdat.core import kinds, nip19
from samizdat.core.keys import SecretKey

if TYPE_CHECKING:
    from conftest import Cli, CliResult

UNKNOWN_ID = "0" * 64
STRANGER = SecretKey.generate().public_key_hex
UNKNOWN_NADDR = nip19.naddr_encode(kinds.CHANNEL, STRANGER, "elsewhere")
STRANGER_NPUB = nip19.npub_encode(STRANGER)
GOOD_NADDR = nip19.naddr_encode(kinds.CHANNEL, STRANGER, "district")
BAD_CHECKSUM_NADDR = GOOD_NADDR[:-1] + ("q" if GOOD_NADDR[-1] != "q" else "p")


class Case(NamedTuple):
    home: str  # which prepared data directory (see HOMES)
    args: tuple[str, ...]
    says: str  # part of the one error line, so we know the refusal is about the right thing
    usage: bool = False  # click's usage error (exit 2) rather than our "error:" line


# Prepared data directories: "ready" (encrypted) has an identity and a channel `district` with one post; "fresh" was
# never initialised; the others are initialised, then broken: "bad-toml" and the "key-*" ones are plain nodes
# (`init --no-passphrase`, an identity.key in hex), "sealed-*", "slots-*" and "events-*" copies of "ready".
HOMES = (
    "ready", "fresh", "bad-toml", "bad-config-type", "key-is-dir", "key-garbage", "key-binary", "key-empty",
    "sealed-garbage", "slots-damaged", "slots-truncated", "events-truncated", "events-garbage",
)  # fmt: skip

CASES: dict[str, Case] = {
    # unknown channels and malformed addresses
    "show-unknown-channel": Case("ready", ("channel", "show", "nosuch"), "no channel called 'nosuch'"),
    "post-unknown-channel": Case("ready", ("post", "nosuch", "text"), "no channel called 'nosuch'"),
    "feed-unknown-channel": Case("ready", ("feed", "nosuch"), "no channel called 'nosuch'"),
    "show-unsynced-channel": Case("ready", ("channel", "show", UNKNOWN_NADDR), "does not have channel"),
    "show-bad-naddr": Case("ready", ("channel", "show", "naddr1qqqqbad"), "naddr"),
    "show-naddr-bad-checksum": Case("ready", ("channel", "show", BAD_CHECKSUM_NADDR), "checksum"),
    "follow-bad-naddr": Case("ready", ("follow", "naddr1xyz"), "naddr"),
    # keys
    "admins-add-bad-npub": Case("ready", ("channel", "admins", "district", "--add", "npub1bogus"), "npub"),
    "admins-remove-non-admin": Case(
        "ready", ("channel", "admins", "district", "--remove", STRANGER_NPUB), "not an admin"
    ),
    "admins-bad-role": Case(
        "ready", ("channel", "admins", "district", "--add", STRANGER_NPUB, "--role", "king"), "--role"
    ),
    "follow-bad-npub": Case("ready", ("follow", "npub1xyz"), "npub"),
    "unfollow-not-followed": Case("ready", ("unfollow", STRANGER_NPUB), "do not follow"),
    # posts
    "alert-without-location": Case("ready", ("post", "district", "--type", "alert", "Police vans"), "location"),
    "unknown-post-type": Case("ready", ("post", "district", "--type", "bogus", "text"), "unknown post type 'bogus'"),
    "post-type-correction": Case("ready", ("post", "district", "--type", "correction", "text"), "samizdat correct"),
    "news-without-text": Case("ready", ("post", "district", "--type", "news", ""), "needs text"),
    "event-without-start": Case(
        "ready", ("post", "district", "--type", "event", "Meeting", "--place", "Yard"), "start"
    ),
    "event-in-the-past": Case(
        "ready",
        ("post", "district", "--type", "event", "Meeting", "--place", "Yard", "--start", "2020-05-09T18:00"),
        "is in the past; check the date, or give --force",
    ),
    "bad-expires": Case(
        "ready", ("post", "district", "--type", "alert", "x", "--place", "y", "--expires", "soon"), "'soon'"
    ),
    "bad-start": Case(
        "ready", ("post", "district", "--type", "event", "x", "--place", "y", "--start", "tomorrow"), "'tomorrow'"
    ),
    "latitude-out-of-range": Case("ready", ("post", "district", "x", "--lat", "100", "--lon", "0"), "--lat"),
    "latitude-without-longitude": Case("ready", ("post", "district", "x", "--lat", "50"), "--lon"),
    "bad-channel-id": Case("ready", ("channel", "create", "Bad_ID", "--name", "x"), "channel id"),
    # amendments
    "retract-without-reason": Case("ready", ("retract", UNKNOWN_ID), "--reason", usage=True),
    "retract-blank-reason": Case("ready", ("retract", UNKNOWN_ID, "--reason", "  "), "no post"),
    "correct-unknown-id": Case("ready", ("correct", UNKNOWN_ID, "text"), "no post"),
    "correct-not-an-id": Case("ready", ("correct", "nonsense", "text"), "'nonsense' is not a post id"),
    "correct-short-prefix": Case("ready", ("correct", "0123abc", "text"), "at least 8 hex characters"),
    "correct-unknown-prefix": Case("ready", ("correct", "00000000", "text"), "no post starting with 00000000"),
    "correct-bad-note": Case("ready", ("correct", "note1qqqq", "text"), "note"),
    "label-unknown-id": Case("ready", ("label", UNKNOWN_ID, "confirmed"), "no post"),
    "feed-limit-not-a-number": Case("ready", ("feed", "--limit", "many"), "--limit", usage=True),
    # files
    "max-size-garbage": Case("ready", ("export", "-o", "{tmp}/out.smz", "--max-size", "garbage"), "'garbage'"),
    "max-size-too-small": Case("ready", ("export", "-o", "{tmp}/out.smz", "--max-size", "10"), "at least"),
    "max-size-4kb": Case("ready", ("export", "-o", "{tmp}/out.smz", "--max-size", "4kb"), "4kb is 4000 bytes"),
    "export-to-missing-directory": Case("ready", ("export", "-o", "{tmp}/no/such/dir/out.smz"), "no/such/dir"),
    "import-missing-file": Case("ready", ("import", "{tmp}/missing.smz"), "missing.smz"),
    "import-not-a-bundle": Case("ready", ("import", "{tmp}/not-a-bundle.smz"), "not a Samizdat bundle"),
    "import-missing-part-file": Case("ready", ("import", "{tmp}/not-a-bundle.smz", "{tmp}/missing.smz"), "missing.smz"),
    "channel-edit-nothing": Case("ready", ("channel", "edit", "district"), "nothing to change"),
    "channel-edit-unknown": Case("ready", ("channel", "edit", "nosuch", "--name", "x"), "no channel called 'nosuch'"),
    "sync-unknown-channel": Case("ready", ("sync", "ws://127.0.0.1:9", "--channel", "nosuch"), "no channel called"),
    # relays
    "sync-not-a-url": Case("ready", ("sync", "notaurl"), "not a ws:// or wss://"),
    "sync-refused": Case("ready", ("sync", "ws://127.0.0.1:9"), "cannot connect"),
    # before `samizdat init`
    "keys-before-init": Case("fresh", ("keys", "show"), "samizdat init"),
    "create-before-init": Case("fresh", ("channel", "create", "district", "--name", "x"), "samizdat init"),
    "post-before-init": Case("fresh", ("post", "district", "text"), "samizdat init"),
    "feed-before-init": Case("fresh", ("feed",), "samizdat init"),
    "status-before-init": Case("fresh", ("status",), "samizdat init"),
    "serve-before-init": Case("fresh", ("serve", "--port", "0"), "samizdat init"),
    # a damaged data directory
    "malformed-config-status": Case("bad-toml", ("status",), "not valid TOML"),
    "malformed-config-serve": Case("bad-toml", ("serve", "--port", "0"), "not valid TOML"),
    "config-wrong-type": Case("bad-config-type", ("status",), "port"),
    "identity-is-a-directory": Case("key-is-dir", ("keys", "show"), "identity.key"),
    "identity-garbage": Case("key-garbage", ("keys", "show"), "secret key"),
    "identity-binary": Case("key-binary", ("feed",), "identity.key"),
    "identity-empty": Case("key-empty", ("post", "district", "x"), "secret key"),
    # a damaged encrypted node
    "sealed-identity-garbage": Case("sealed-garbage", ("keys", "show"), "identity.sealed is damaged"),
    "key-slots-damaged": Case("slots-damaged", ("feed",), "keys.slots is damaged"),
    "key-slots-truncated": Case("slots-truncated", ("serve", "--port", "0"), "keys.slots is damaged"),
    "events-truncated": Case("events-truncated", ("feed",), "is damaged"),
    "events-garbage": Case("events-garbage", ("status",), "the file is not a database or is damaged"),
}


def prepare(cli_for: Callable[[Path], Cli], root: Path) -> dict[str, Cli]:
    homes = {name: cli_for(root / name) for name in HOMES}
    ready = homes["ready"]
    ready.ok("init")
    ready.ok("channel", "create", "district", "--name", "District")
    ready.ok("post", "district", "--type", "news", "Something happened")
    (root / "not-a-bundle.smz").write_text("this is not a bundle\n")
    homes["bad-toml"].ok("init", "--no-passphrase")
    (homes["bad-toml"].home / "config.toml").write_text("[node\nname = 'broken'\n")
    for name in ("bad-config-type", "key-is-dir", "key-garbage", "key-binary", "key-empty"):
        shutil.copytree(homes["bad-toml"].home, homes[name].home)
        (homes[name].home / "config.toml").write_text("[node]\nname = 'fine'\n")
    (homes["bad-config-type"].home / "config.toml").write_text('[node]\nport = "not a number"\n')
    key = homes["key-is-dir"].home / "identity.key"
    key.unlink()
    key.mkdir()  # unreadable even for root, unlike chmod 000
    (homes["key-garbage"].home / "identity.key").write_text("not a key at all\n")
    (homes["key-binary"].home / "identity.key").write_bytes(b"\xff\xfe\x00\x01 binary junk")
    (homes["key-empty"].home / "identity.key").write_text("")
    for name in ("sealed-garbage", "slots-damaged", "slots-truncated", "events-truncated", "events-garbage"):
        shutil.copytree(ready.home, homes[name].home)
    (homes["sealed-garbage"].home / "identity.sealed").write_bytes(b"SMZID\x00\x00\x01" + bytes(60))
    slots = homes["slots-damaged"].home / "keys.slots"
    raw = bytearray(slots.read_bytes())
    for offset in (100, 4096 + 100):  # both copies
        raw[offset] ^= 0xFF
    slots.write_bytes(bytes(raw))
    with (homes["slots-truncated"].home / "keys.slots").open("r+b") as handle:
        handle.truncate(1000)
    events = homes["events-truncated"].home / "events.sqlite"
    with events.open("r+b") as handle:
        handle.truncate(events.stat().st_size // 2)
    (homes["events-garbage"].home / "events.sqlite").write_bytes(b"\x00garbage" * 5000)
    return homes


@pytest.fixture(scope="module")
def results(tmp_path_factory: pytest.TempPathFactory, cli_for: Callable[[Path], Cli]) -> dict[str, CliResult]:
    root = tmp_path_factory.mktemp("errors")
    homes = prepare(cli_for, root)

    def run(case: Case) -> CliResult:
        args = tuple(arg.replace("{tmp}", str(root)) for arg in case.args)
        return homes[case.home](*args)

    with ThreadPoolExecutor(max_workers=4) as pool:
        done = dict(zip(CASES, pool.map(run, CASES.values()), strict=True))
    assert not (homes["fresh"].home / "identity.key").exists()  # no command but init creates an identity
    return done


@pytest.mark.parametrize("name", list(CASES))
def test_bad_input_is_one_sentence_without_a_traceback(results: dict[str, CliResult], name: str) -> None:
    case, result = CASES[name], results[name]
    assert result.code != 0, f"succeeded: {result.out[:300]}"
    assert "Traceback" not in result.out + result.err
    lines = [line for line in result.err.splitlines() if line.strip()]
    if case.usage:
        assert result.code == 2
        assert lines[0].startswith("Usage:"), result.err
        assert any(line.startswith("Error:") and case.says in line for line in lines), result.err
        return
    assert result.code == 1
    assert len(lines) == 1, f"expected one line on stderr, got {result.err!r}"
    (line,) = lines
    assert line.startswith("error: "), line
    assert "unexpected" not in line, f"an unexpected exception reached the user: {line}"
    assert case.says in line, line
    # One style: a lower-case first word (an acronym such as NIP-65 stays), no final full stop.
    assert not re.match(r"error: [A-Z][a-z]", line), line
    assert not line.endswith("."), line
    assert case.says not in result.out  # said once, on standard error

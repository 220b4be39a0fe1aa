"""`samizdat encrypt` as a person runs it on a plain data directory: 100,000 events, follows, an outbox entry, a
learned route and a peer all kept, and nothing of them readable in the directory afterwards; the refusals (a
running serve, an encrypted home); and the migration killed with SIGKILL after each of its steps
(``SAMIZDAT_ENCRYPT_TEST_KILL``, test-only), after which the next run (or any command) ends in one whole home."""

from __future__ import annotations

import asyncio
import hashlib
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from conftest import CLI_TIMEOUT, CliResult, assert_no_traceback, cli_env, command
from samizdat.config import IDENTITY_PLAIN, home_kind, init_home, load_identity
from samizdat.core import nip19
from samizdat.core.event import Event, canonical
from samizdat.core.routes import RouteRecord
from samizdat.services import encryption, keyring
from samizdat.store.local import LocalState
from samizdat.store.sqlite import SqliteStore
from samizdat.testing import TEST_PASSPHRASE, node_keys, open_database

if TYPE_CHECKING:
    from conftest import ServeProcess

SECRET_TEXT = "meet at the old bakery at nine"
RELAY = "wss://mirror.example"
CHANNEL = "30333:" + "ab" * 32 + ":district"


def events_for(pubkey: str, count: int) -> list[Event]:
    """``count`` posts by ``pubkey``: real ids, a placeholder signature (the store takes what the relay verified;
    signing 100,000 would take minutes here). Every thousandth carries :data:`SECRET_TEXT`."""
    made = []
    for n in range(count):
        content = f"{SECRET_TEXT} ({n})" if n % 1000 == 0 else f"report {n} from the square"
        tags = (("a", CHANNEL), ("t", "news"))
        created = 1_700_000_000 + n
        event_id = hashlib.sha256(canonical(pubkey, created, 1, tags, content)).hexdigest()
        made.append(Event(event_id, pubkey, created, 1, tags, content, "00" * 64))
    return made


def plain_home(home: Path, count: int, *, on_purpose: bool = True) -> dict[str, Any]:
    """A plain data directory (``init --no-passphrase``, or with ``on_purpose`` False one from before encryption)
    holding ``count`` events of its own key, 2 follows, an outbox entry, a route and a peer; what it holds."""
    if on_purpose:
        assert keyring.create_plain(home)
    else:
        init_home(home)
    pubkey = load_identity(home).public_key_hex

    async def fill() -> None:
        store = await SqliteStore.open(home / "events.sqlite")
        try:
            events = events_for(pubkey, count)
            for start in range(0, count, 5000):
                await store.add_many(events[start : start + 5000])
        finally:
            await store.close()

    asyncio.run(fill())
    local = LocalState(home / "local.sqlite")
    try:
        local.follow(CHANNEL, [RELAY], 1.0)
        local.follow("30333:" + "cd" * 32 + ":other", [], 2.0)
        local.enqueue("ef" * 32, [RELAY], 3.0, author=pubkey, channel=CHANNEL)
        local.record_route(RELAY, "wifi-1", RouteRecord("socks5h://127.0.0.1:9050", last_ok=4.0))
        local.add_peer("ws://192.168.1.20:4848", "manual", 5.0, name="kitchen")
        held = state_of(local)
    finally:
        local.close()
    return {"pubkey": pubkey, "ids": id_hash(home, None), "local": held, "count": count}


def state_of(local: LocalState) -> dict[str, Any]:
    return {
        "follows": local.follows(),
        "outbox": local.outbox(),
        "routes": local.all_routes(),
        "peers": [(p.url, p.name, p.source) for p in local.peers()],
    }


def id_hash(home: Path, passphrase: str | None) -> tuple[int, str]:
    """(events, SHA-256 over their ids in order), read from the file as it is on disk."""
    conn = open_database(home / "events.sqlite", passphrase=passphrase or TEST_PASSPHRASE)
    try:
        ids = [row[0] for row in conn.execute("SELECT id FROM events ORDER BY id")]
    finally:
        conn.close()
    return len(ids), hashlib.sha256(b"".join(ids)).hexdigest()


def run(home: Path, *args: str, env: dict[str, str] | None = None, timeout: float = CLI_TIMEOUT) -> CliResult:
    done = subprocess.run(
        command(home, *args), capture_output=True, text=True, timeout=timeout, env={**cli_env(), **(env or {})},
        stdin=subprocess.DEVNULL, check=False,
    )  # fmt: skip
    result = CliResult(done.returncode, done.stdout, done.stderr)
    assert_no_traceback(result)
    return result


def assert_whole_and_encrypted(home: Path, held: dict[str, Any]) -> None:
    """``home`` is an encrypted node holding everything ``held`` says, and no plain file or staging is left."""
    assert home_kind(home) == "encrypted"
    names = {p.name for p in home.iterdir()}
    assert {"keys.slots", "identity.sealed", "events.sqlite", "local.sqlite", "config.toml"} <= names
    assert not names & {IDENTITY_PLAIN, "unencrypted", "encrypting", "events.sqlite-wal", "local.sqlite-wal"}
    assert id_hash(home, TEST_PASSPHRASE) == held["ids"]
    keys = node_keys(home)
    assert load_identity(home, keys).public_key_hex == held["pubkey"]
    local = LocalState(home / "local.sqlite", key=keys.local)
    try:
        assert state_of(local) == held["local"]
    finally:
        local.close()


def readable(home: Path, needles: list[bytes]) -> list[bytes]:
    """Which of ``needles`` appear anywhere in the bytes of the files under ``home``."""
    found = set()
    for path in home.rglob("*"):
        if path.is_file():
            data = path.read_bytes()
            found.update(n for n in needles if n in data)
    return sorted(found)


# -- 100,000 events ------------------------------------------------------------------------------------------------


@pytest.mark.slow
def test_encrypt_keeps_100k_events_follows_outbox_route_and_peer_and_leaves_nothing_readable(tmp_path: Path) -> None:
    home = tmp_path / "node"
    held = plain_home(home, 100_000)
    npub = nip19.npub_encode(held["pubkey"]).encode()
    secret = load_identity(home).secret.hex().encode()
    assert readable(home, [SECRET_TEXT.encode(), held["pubkey"].encode()])  # plain: there for anyone to read
    config = (home / "config.toml").read_bytes()

    done = run(home, "encrypt", timeout=300)
    assert done.code == 0, done.err
    assert "kept 100000 events, 2 follows, 1 outbox entries, 1 routes, 1 peers" in done.out
    assert "verified by count and hash" in done.out
    flash = [line for line in done.err.splitlines() if "flash" in line]
    assert len(flash) == 1
    assert "full-disk encryption" in flash[0]
    assert "fresh encrypted node" in flash[0]

    assert_whole_and_encrypted(home, held)
    assert (home / "config.toml").read_bytes() == config
    assert readable(home, [SECRET_TEXT.encode(), npub, held["pubkey"].encode(), secret]) == []

    status = run(home, "status", "--json")
    assert status.code == 0, status.err
    assert status.json()["events"] == 100_000
    wrong = tmp_path / "wrong"
    wrong.write_text("not the passphrase\n")
    refused = run(home, "status", env={"SAMIZDAT_PASSPHRASE_FILE": str(wrong)})
    assert refused.code == 1
    assert refused.error_lines == ["error: wrong passphrase: no key slot opens with it"]


# -- killed at any point ---------------------------------------------------------------------------------------------

COMMIT = encryption.STEPS.index("verified")


@pytest.mark.parametrize("step", encryption.STEPS)
def test_killed_after_any_step_the_next_encrypt_ends_in_one_whole_encrypted_home(tmp_path: Path, step: str) -> None:
    home = tmp_path / "node"
    held = plain_home(home, 300, on_purpose=False)  # a directory from before encryption: no marker
    killed = run(home, "encrypt", env={encryption.KILL_VARIABLE: step})
    assert killed.code == -9, killed.err
    committed = encryption.STEPS.index(step) >= COMMIT
    assert (home / "encrypting").exists()
    if not committed:  # before the point of no return the plain files are the live ones, untouched
        assert home_kind(home) == "plain"
        assert id_hash(home, None) == held["ids"]
        assert load_identity(home).public_key_hex == held["pubkey"]

    again = run(home, "encrypt")
    assert again.code == 0, again.err
    verb = "Finished encrypting" if committed else "Encrypted"
    assert again.out.startswith(f"{verb} {home}: kept 300 events, 2 follows, 1 outbox entries"), again.out
    assert_whole_and_encrypted(home, held)


@pytest.mark.parametrize(("step", "finished"), [("local", False), ("moved-local", True)])
def test_any_command_finishes_or_undoes_an_interrupted_encrypt(tmp_path: Path, step: str, finished: bool) -> None:
    home = tmp_path / "node"
    held = plain_home(home, 200)
    assert run(home, "encrypt", env={encryption.KILL_VARIABLE: step}).code == -9

    status = run(home, "status", "--json")
    assert status.code == 0, status.err
    assert status.json()["events"] == 200
    notices = [line for line in status.err.splitlines() if "interrupted" in line]
    assert len(notices) == 1
    assert ("notice: finished encrypting" if finished else "is still NOT encrypted") in notices[0]
    assert not (home / "encrypting").exists()
    if finished:
        assert_whole_and_encrypted(home, held)
    else:
        assert home_kind(home) == "plain"
        assert (home / "unencrypted").exists()
        assert id_hash(home, None) == held["ids"]


# -- refusals and questions ----------------------------------------------------------------------------------------


def test_encrypt_refuses_an_encrypted_home_a_missing_one_and_a_running_serve(
    tmp_path: Path, serve: Callable[..., ServeProcess]
) -> None:
    encrypted = tmp_path / "encrypted"
    assert run(encrypted, "init").code == 0
    before = {p.relative_to(encrypted): p.read_bytes() for p in encrypted.rglob("*") if p.is_file()}
    refused = run(encrypted, "encrypt")
    assert refused.code == 1
    assert refused.error_lines == [f"error: {encrypted} is encrypted already: there is nothing to do"]
    assert {p.relative_to(encrypted): p.read_bytes() for p in encrypted.rglob("*") if p.is_file()} == before

    missing = run(tmp_path / "nowhere", "encrypt")
    assert missing.code == 1
    assert missing.error_lines == [
        f"error: {tmp_path / 'nowhere'} is not a data directory: `samizdat init` makes a new, encrypted one"
    ]

    home = tmp_path / "node"
    held = plain_home(home, 50)
    node = serve(home)
    busy = run(home, "encrypt")
    assert busy.code == 1
    assert len(busy.error_lines) == 1
    assert "a `samizdat serve` is running" in busy.error_lines[0]
    node.stop()
    assert home_kind(home) == "plain"
    assert not (home / "encrypting").exists()
    assert id_hash(home, None) == held["ids"]


def test_on_a_terminal_encrypt_asks_for_the_new_passphrase_twice(tmp_path: Path) -> None:
    from test_encrypted import typed

    home = tmp_path / "node"
    held = plain_home(home, 20)
    code, seen, _ = typed(home, ("encrypt",), ["first try", "second try"])
    assert code == 1
    assert "the two passphrases differ" in seen
    assert home_kind(home) == "plain"
    code, seen, _ = typed(home, ("encrypt",), ["typed twice", "typed twice"])
    assert code == 0, seen
    assert "Encrypted" in seen
    assert id_hash(home, "typed twice") == held["ids"]


def test_encrypt_takes_the_new_passphrase_from_a_file_descriptor(tmp_path: Path) -> None:
    from test_encrypted import run as run_with

    home = tmp_path / "node"
    held = plain_home(home, 10)
    done = run_with(home, "encrypt", "--json", fd_text="from a pipe\n")
    assert done.code == 0, done.err
    assert done.json()["events"] == 10
    shown = run_with(home, "keys", "show", "--json", fd_text="from a pipe\n")
    assert shown.json()["pubkey"] == held["pubkey"]

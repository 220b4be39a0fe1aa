"""Red team, round 14: the seized, switched-off laptop after rounds 10-13 (docs/safety.md, "What a seized,
switched-off device gives away now").

Rounds 10-13 added state that was never looked at as a seized-device risk: the impostor check's memory per relay
and per route (marks, holds, spot-check times: services/relay_memory.py), the operator login's admin-change record
(``web-operators``, web/operator_changes.py), relay health and route records. One realistic session on an encrypted
node, with real parts: a mirror relay (nostr-sdk's LocalRelay on loopback) reached directly and through a SOCKS
proxy given with ``--via`` (microsocks: the fallback route, so routes, marks and spot checks are written), a
channel with an editor, posts, a photo, syncs, ``samizdat serve`` with an operator login that appoints a key of
its own; then the node is stopped, and the examiner lists every file of the data directory and every readable
string in it (the SQLite WAL and SHM files, the lock files, the state files, the log written beside it).
"""

from __future__ import annotations

import base64
import contextlib
import json
import re
import shutil
import sqlite3
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from websockets.sync.client import ClientConnection, connect
from websockets.typing import Origin

import photo_samples as samples
from conftest import Cli, LocalRelayProcess, ServeProcess, cli_env, command
from samizdat.core import nip19
from samizdat.core.keys import SecretKey
from samizdat.testing import free_port

pytestmark = pytest.mark.skipif(shutil.which("microsocks") is None, reason="needs microsocks (a SOCKS5 proxy)")

NAME = "Kastrychnitski yard watch 7731"
SHORT = "yard4471"
POSTS = ["Buses behind the tractor works 4412", "Water at the school on Partyzanski 9918"]
OTHER = "Partyzanski evening news 6620"
OTHER_POST = "Queue at the water truck 8812"
PHOTO_POST = "The column turning at the ring road 5521"


@pytest.fixture
def socks(tmp_path: Path) -> Iterator[int]:
    """A SOCKS5 proxy on loopback: the fallback route a person gives with ``--via``."""
    port = free_port()
    with (tmp_path / "socks.log").open("wb") as log:
        proxy = subprocess.Popen(["microsocks", "-i", "127.0.0.1", "-p", str(port)], stdout=log, stderr=log)
    try:
        for _ in range(100):
            if subprocess.run(["ss", "-ltn", f"sport = :{port}"], capture_output=True, text=True).stdout.count(
                "LISTEN"
            ):
                break
            time.sleep(0.1)
        yield port
    finally:
        proxy.terminate()
        proxy.wait(10)


@pytest.fixture
def mirror(tmp_path: Path) -> Iterator[LocalRelayProcess]:
    pytest.importorskip("nostr_sdk")
    relay = LocalRelayProcess(free_port(), tmp_path / "mirror.log")
    relay.start()
    try:
        yield relay
    finally:
        relay.stop()


class ServeVia(ServeProcess):
    """``samizdat --via TRANSPORT serve --port 0``: the fallback route is a global option."""

    def __init__(self, home: Path, log: Path, via: tuple[str, ...], *extra: str) -> None:
        self.home, self.log_path, self.port = home, log, 0
        self._log = log.open("wb")
        self.process = subprocess.Popen(
            [*command(home, *via), "serve", "--port", "0", *extra], stdin=subprocess.DEVNULL, stdout=self._log,
            stderr=subprocess.STDOUT, env=cli_env(),
        )  # fmt: skip


@contextlib.contextmanager
def logged_in(serve: ServeProcess, cli: Cli) -> Iterator[ClientConnection]:
    """An operator session at ``/op``, as the web app opens it with a ``samizdat web login`` link."""
    token = cli.json("web", "login")["token"]
    with connect(serve.url + "/op", origin=Origin(f"http://127.0.0.1:{serve.port}"), open_timeout=10) as ws:
        ws.send(json.dumps({"token": token}))
        assert json.loads(ws.recv(timeout=10))["ok"] is True
        yield ws


def change_admins(ws: ClientConnection, request: dict[str, Any]) -> dict[str, Any]:
    ws.send(json.dumps({"id": 1, "admins": request}))
    answer: dict[str, Any] = json.loads(ws.recv(timeout=60))
    return answer


def variants(text: str) -> list[bytes]:
    return [text.encode(), text.lower().encode(), text.upper().encode(), text.encode("utf-16-le")]


def files(top: Path) -> dict[str, bytes]:
    """Every file under ``top`` (WAL, SHM, lock, state and codes files, ``spare/`` included) and its bytes."""
    return {
        str(p.relative_to(top)): p.read_bytes() for p in sorted(top.rglob("*")) if p.is_file() and not p.is_symlink()
    }


def found(where: dict[str, bytes], needles: dict[str, list[bytes]]) -> list[str]:
    return [f"{name}: {what}" for name, data in where.items() for what, ways in needles.items()
            if any(way in data for way in ways)]  # fmt: skip


def session(cli: Cli, mirror: LocalRelayProcess, socks: int, tmp_path: Path, *init: str) -> dict[str, Any]:
    """A few days' use squeezed: a channel of one's own with an editor, mirrored at a relay reached directly and
    through a fallback (``--via``); posts, a photo; another's channel followed and synced in the background (the
    impostor check's marks and spot checks through the fallback); an operator login that appoints a key."""
    via = ("--via", f"socks5h://127.0.0.1:{socks}")
    other = Cli(cli.home.parent / f"other-{cli.home.name}")  # someone else's channel, followed, at the same relay
    other.ok("init")
    theirs = other.json("channel", "create", "evening", "--name", OTHER, "--mirror", mirror.url)
    posted = [other.json("post", "evening", OTHER_POST)["ids"][0]]
    cli.ok("init", *init)
    (cli.home / "config.toml").write_text("[sync]\ninterval = 2\n")  # background syncs at once, every 2 s
    cli.ok("follow", theirs["naddr"])
    editor = SecretKey.generate()
    made = cli.json("channel", "create", SHORT, "--name", NAME, "--mirror", mirror.url)
    cli.ok("channel", "admins", SHORT, "--add", nip19.npub_encode(editor.public_key_hex), "--role", "editor")
    posted += [cli.json("post", SHORT, text)["ids"][0] for text in POSTS]
    photo = tmp_path / "column.jpg"
    photo.write_bytes(samples.loaded_jpeg(samples.astronaut(), icc=False))
    posted.append(cli.json("post", SHORT, PHOTO_POST, "--photo", str(photo), "--alt", "the column")["ids"][0])
    cli.ok(*via, "sync", mirror.url, timeout=120)
    planted = SecretKey.generate()
    serve = ServeVia(cli.home, tmp_path / f"serve-{cli.home.name}.log", via)
    try:
        serve.wait_ready()
        with logged_in(serve, cli) as ws:
            answer = change_admins(ws, {"channel": made["address"], "add": nip19.npub_encode(planted.public_key_hex),
                                        "role": "admin"})  # fmt: skip
            assert "error" not in answer, answer
        posted.append(cli.json("post", SHORT, "Checkpoint at the bridge 3301")["ids"][0])
        seen = cli.json("feed", "evening")
        for _ in range(60):  # background syncs of the followed channel (every 2 s) bring its post
            if any(item["id"] == posted[0] for item in seen):
                break
            time.sleep(0.5)
            seen = cli.json("feed", "evening")
        assert any(item["id"] == posted[0] for item in seen), "the followed channel's post never came"
        time.sleep(3)  # a few more syncs, as days of use make
    finally:
        assert serve.stop() == 0
    assert not (cli.home / "serve.json").exists()
    keys = cli.json("keys", "show")
    return {
        "cli": cli,
        "log": serve.log_path.read_bytes(),
        "needles": {
            "relay URL": variants(f"127.0.0.1:{mirror.port}"),
            "proxy address": variants(f"127.0.0.1:{socks}"),
            "channel name": variants(NAME),
            "channel short name": variants(SHORT),
            "followed channel": [*variants(OTHER), *variants(theirs["naddr"])],
            "post": [*variants(POSTS[0]), *variants(PHOTO_POST), *variants(OTHER_POST)],
            "post ids": [w for i in posted for w in [*variants(i), bytes.fromhex(i)]],
            "our key": [*variants(keys["pubkey"]), *variants(keys["npub"]), bytes.fromhex(keys["pubkey"])],
            "followed owner": [
                *variants(theirs["address"].split(":")[1]),
                bytes.fromhex(theirs["address"].split(":")[1]),
            ],
            "editor key": [*variants(editor.public_key_hex), *variants(nip19.npub_encode(editor.public_key_hex))],
            "planted key": [*variants(planted.public_key_hex), *variants(nip19.npub_encode(planted.public_key_hex))],
        },
    }


@pytest.fixture
def outside(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, Path]:
    """The user's home and temporary folder, empty, for the commands (a cache or a temporary file would land there)."""
    places = {"home": tmp_path / "user", "tmp": tmp_path / "tmpdir"}
    for place in places.values():
        place.mkdir()
    monkeypatch.setenv("HOME", str(places["home"]))
    monkeypatch.setenv("TMPDIR", str(places["tmp"]))
    for name in ("XDG_CACHE_HOME", "XDG_CONFIG_HOME", "XDG_DATA_HOME", "XDG_STATE_HOME"):
        monkeypatch.delenv(name, raising=False)
    return places


#: What a line of ``web-operators`` may show on an encrypted node: a code (its id, its hash sealed, its dates, the
#: hash of a login link already spent) or a login's admin-change record (its id, when it ended, how many changes,
#: the changes sealed).
CODE_LINE = re.compile(r"[0-9a-f]{8}~[A-Za-z0-9_-]+ \d+ \d+ \d+( [0-9a-f]{64})?")
RECORD_LINE = re.compile(r"@[0-9a-f]{8} \d+ \d+ ~([A-Za-z0-9_-]+)")


def test_a_seized_encrypted_node_after_rounds_10_to_13_names_nothing(
    tmp_path: Path, mirror: LocalRelayProcess, socks: int, outside: dict[str, Path]
) -> None:
    shm = set(Path("/dev/shm").iterdir())
    done = session(Cli(tmp_path / "home"), mirror, socks, tmp_path)
    home = done["cli"].home
    seized = files(home)
    # Every byte of every file, and the log of `serve` at its default level (what journald keeps).
    assert found({**seized, "the log": done["log"]}, done["needles"]) == []
    # Nothing beside the data directory: no cache in the user's home, no temporary file, nothing left in /dev/shm.
    assert [str(p) for place in outside.values() for p in place.rglob("*")] == []
    assert set(Path("/dev/shm").iterdir()) - shm == set()
    # The operator login's record: its id, when it ended, how many changes, and a sealed field whose length is in
    # whole steps (web/operator_changes.py, PAD), so it does not tell how long the channel's short name is.
    lines = seized["web-operators"].decode("ascii").splitlines()
    records = [m for m in map(RECORD_LINE.fullmatch, lines) if m]
    assert len(records) == 1, lines
    assert all(CODE_LINE.fullmatch(line) or RECORD_LINE.fullmatch(line) for line in lines), lines
    sealed = base64.urlsafe_b64decode(records[0].group(1) + "==")
    assert (len(sealed) - 12 - 16) % 1024 == 0, len(sealed)  # nonce, padded entries, tag
    # The search is real: the node opens with its passphrase, and what it holds is there.
    assert POSTS[0] in done["cli"].ok("feed", SHORT).out


def test_a_seized_plain_node_gives_it_all_away(tmp_path: Path, mirror: LocalRelayProcess, socks: int) -> None:
    """The same session on a ``--no-passphrase`` node (a hub): the same search finds what the encrypted node
    hides, the impostor check's memory included: which relays, through which routes, for which channels, when."""
    done = session(Cli(tmp_path / "hub"), mirror, socks, tmp_path, "--no-passphrase")
    home = done["cli"].home
    hits = found(files(home), done["needles"])
    for what in ("relay URL", "channel name", "post", "our key", "followed owner", "planted key"):
        assert any(line.endswith(f": {what}") for line in hits), (what, hits)
    with contextlib.closing(sqlite3.connect(f"file:{home / 'local.sqlite'}?mode=ro", uri=True)) as db:
        marks = db.execute("SELECT relay, scope, at, checked FROM relay_marks").fetchall()
    assert any(relay == mirror.url for relay, *_ in marks), marks  # the impostor check's marks, per relay and scope

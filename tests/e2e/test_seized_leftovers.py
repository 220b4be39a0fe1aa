"""What a node leaves outside its encrypted files while people use it: the log of ``samizdat serve`` at its default
level (which systemd's journal keeps, unencrypted, for weeks), files in $TMPDIR, and the modes of its files
(another account on the machine, a guest, copying them while the node runs).

One realistic session of two people: an owner's channel with a place, posts (one with a photo), a mirror relay
(nostr-sdk's LocalRelay), a bundle carried by hand, a reader whose serve syncs the channel's area from that relay
(over its area budget, so that the node has something to warn about), the web app asked for its pages and the
relay for a full-text search. Then: no channel name, post text, search term, relay address, area, npub or public
key in either serve's log; no file was made in $TMPDIR by any command or serve (watched with inotify, so that a
file made and deleted at once counts too); every file and folder of both data directories is the user's alone,
though the shell's umask is 022 and the owner's folder was made by hand, readable by all, before ``init``."""

from __future__ import annotations

import json
import os
import stat
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from websockets.sync.client import connect

import photo_samples as samples
from samizdat.testing import CreatedFiles, passphrase_env

if TYPE_CHECKING:
    from conftest import Cli, LocalRelayProcess, ServeProcess

CHANNEL = "Kastrychnitski night watch"
POST = "Riot police buses parked behind the tractor works"
PHOTO_POST = "Second column turning onto Partyzanski"
SEARCH = "tractor"
AREA = "u9ed"
SYNC_WAIT = 60.0


@pytest.fixture
def loose_umask() -> Iterator[None]:
    """The shell's usual umask (files readable by all), for every process the test starts."""
    before = os.umask(0o022)
    try:
        yield
    finally:
        os.umask(before)


@pytest.fixture
def watched_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[CreatedFiles]:
    """An empty $TMPDIR (and $SQLITE_TMPDIR) for every process the test starts, watched from now on."""
    passphrase_env()  # the tests' passphrase file, made before $TMPDIR changes (it is ours, not the node's)
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    watch = CreatedFiles(tmp)
    monkeypatch.setenv("TMPDIR", str(tmp))
    monkeypatch.setenv("SQLITE_TMPDIR", str(tmp))
    try:
        yield watch
    finally:
        watch.close()


def search(url: str, term: str) -> list[dict[str, Any]]:
    """A NIP-50 search, as the web app or a client asks it."""
    found: list[dict[str, Any]] = []
    with connect(url, open_timeout=10, close_timeout=5) as ws:
        ws.send(json.dumps(["REQ", "s", {"search": term, "limit": 20}]))
        for _ in range(100):
            message = json.loads(ws.recv(timeout=10))
            if message[0] == "EVENT":
                found.append(message[2])
            else:
                break
    return found


def get(url: str) -> bytes:
    with urllib.request.urlopen(url, timeout=10) as answer:
        body: bytes = answer.read()
    return body


def loose_modes(home: Path) -> list[str]:
    """Every path of ``home`` that another account could read or enter."""
    found = []
    for path in [home, *home.rglob("*")]:
        mode = stat.S_IMODE(path.lstat().st_mode)
        if mode & 0o077:
            found.append(f"{oct(mode)} {path.relative_to(home.parent)}")
    return found


@pytest.mark.usefixtures("loose_umask")
def test_a_session_leaves_no_names_in_the_log_no_temporary_files_and_no_files_for_others(
    make_cli: Callable[[str], Cli],
    serve: Callable[..., ServeProcess],
    local_relay: LocalRelayProcess,
    watched_tmp: CreatedFiles,
    wait_until: Callable[..., Any],
    tmp_path: Path,
) -> None:
    owner, reader = make_cli("owner"), make_cli("reader")
    owner.home.mkdir(mode=0o755)
    owner.home.chmod(0o755)
    owner.ok("init")
    reader.ok("init")
    made = owner.json("channel", "create", "nightwatch", "--name", CHANNEL, "--geohash", "u9edp2",
                      "--mirror", local_relay.url)  # fmt: skip
    owner.ok("post", "nightwatch", POST)
    bundle = tmp_path / "nightwatch.bundle"
    owner.ok("export", "-o", str(bundle), "--channel", "nightwatch")  # carried by hand; what follows, by the relay
    photo = tmp_path / "column.jpg"
    photo.write_bytes(samples.loaded_jpeg(samples.coffee()))
    owner.ok("post", "nightwatch", PHOTO_POST, "--photo", str(photo), "--alt", "A column of vans")
    owner.ok("sync", local_relay.url, "--direction", "up")
    owner.ok("web", "login", "--json")  # the operator codes' file

    config = reader.home / "config.toml"
    text = config.read_text()
    config.write_text(
        text.replace("interval = 300", "interval = 2")
        .replace("old_by_channel = true", "old_by_channel = false")
        .replace("area_budget_mb = 20", "area_budget_mb = 0.0005")  # less than two posts: the node warns
    )
    reader.ok("import", str(bundle))
    reader.ok("follow", made["naddr"])

    owner_node = serve(owner.home)
    reader_node = serve(reader.home)
    wait_until(lambda: reader.json("status")["reading"]["over_budget"], SYNC_WAIT, "the area sync over its budget")
    assert any(e["content"] == POST for e in search(owner_node.url, SEARCH))
    assert b"<html" in get(owner_node.http_url).lower()
    get(owner_node.http_url + "api/status")
    assert POST in reader.ok("feed", made["naddr"]).out
    owner.ok("lock")
    reader.ok("lock")
    assert owner_node.process.wait(15) == 0
    assert reader_node.process.wait(15) == 0

    logs = {"owner": owner_node.output(), "reader": reader_node.output()}
    names = {
        "channel name": CHANNEL,
        "post": POST,
        "photo post": PHOTO_POST,
        "search term": SEARCH,
        "relay address": f"127.0.0.1:{local_relay.port}",
        "area": AREA,
        "channel address": made["address"],
    }
    for who in (owner, reader):
        keys = who.json("keys", "show")
        names[f"{who.home.name}'s npub"] = keys["npub"]
        names[f"{who.home.name}'s public key"] = keys["pubkey"]
        names[f"{who.home.name}'s public key, short"] = keys["pubkey"][:12]
    said = [f"{what} in the {whose} log" for whose, log in logs.items() for what, name in names.items() if name in log]
    assert said == [], logs

    assert watched_tmp.names() == []
    assert loose_modes(owner.home) + loose_modes(reader.home) + loose_modes(bundle) == []

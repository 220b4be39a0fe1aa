"""An encrypted node as a person runs it: passphrases from a terminal, a file descriptor or a file; no source at all;
wrong passphrases; passphrase add/change/remove; `lock` and `wipe` of a running `serve`; plain directories from
before encryption; and the seizure: nothing of what the node holds is readable in its data directory, stopped or
copied while it runs."""

from __future__ import annotations

import base64
import os
import pty
import select
import shutil
import signal
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from conftest import CLI_TIMEOUT, CliResult, assert_no_traceback, cli_env, command
from samizdat.config import init_home, load_identity
from samizdat.core import nip19
from samizdat.testing import TEST_PASSPHRASE, node_keys

if TYPE_CHECKING:
    from conftest import Cli, ServeProcess


def run(
    home: Path,
    *args: str,
    env: dict[str, str] | None = None,
    drop: tuple[str, ...] = (),
    fd_text: str | None = None,
) -> CliResult:
    """``samizdat --home HOME ARGS`` with ``env`` added and ``drop`` removed from the tests' environment; with
    ``fd_text``, ``--passphrase-fd N`` where N is a pipe holding that text (and no passphrase file)."""
    environment = {**cli_env(), **(env or {})}
    for name in drop:
        environment.pop(name, None)
    pass_fds: tuple[int, ...] = ()
    argv = command(home, *args)
    if fd_text is not None:
        environment.pop("SAMIZDAT_PASSPHRASE_FILE", None)
        reader, writer = os.pipe()
        os.write(writer, fd_text.encode())
        os.close(writer)
        pass_fds = (reader,)
        argv = [*command(home), "--passphrase-fd", str(reader), *args]
    try:
        done = subprocess.run(
            argv, capture_output=True, text=True, timeout=CLI_TIMEOUT, env=environment, stdin=subprocess.DEVNULL,
            check=False, pass_fds=pass_fds,
        )  # fmt: skip
    finally:
        for fd in pass_fds:
            os.close(fd)
    result = CliResult(done.returncode, done.stdout, done.stderr)
    assert_no_traceback(result)
    return result


NO_SOURCE = ("SAMIZDAT_PASSPHRASE_FILE",)


def one_error(result: CliResult) -> str:
    assert result.code == 1, result
    lines = [line for line in result.err.splitlines() if line.strip() and not line.startswith("warning:")]
    assert len(lines) == 1, result.err
    assert lines[0].startswith("error: ")
    return lines[0]


# -- passphrase sources ------------------------------------------------------------------------------------------


def test_without_a_terminal_or_a_passphrase_source_init_and_commands_say_how_to_give_one(cli: Cli) -> None:
    line = one_error(run(cli.home, "init", drop=NO_SOURCE))
    assert "--passphrase-fd" in line
    assert "SAMIZDAT_PASSPHRASE_FILE" in line
    assert "--no-passphrase" in line
    assert not cli.home.exists() or not any(cli.home.iterdir())  # nothing made

    cli.ok("init")
    for args in (("feed",), ("keys", "show"), ("serve", "--port", "0"), ("status",)):
        line = one_error(run(cli.home, *args, drop=NO_SOURCE))
        for part in ("is encrypted", "--passphrase-fd", "SAMIZDAT_PASSPHRASE_FILE", "protects nothing"):
            assert part in line, line


def test_passphrase_fd_and_file_and_a_wrong_passphrase(cli: Cli, tmp_path: Path) -> None:
    made = run(cli.home, "init", "--json", fd_text="by descriptor\n")
    assert made.code == 0, made.err
    npub = made.json()["npub"]
    assert made.json()["encrypted"] is True
    shown = run(cli.home, "keys", "show", "--json", fd_text="by descriptor")
    assert shown.json()["npub"] == npub
    file = tmp_path / "pass"
    file.write_text("by descriptor\n")
    assert run(cli.home, "keys", "show", "--json", env={"SAMIZDAT_PASSPHRASE_FILE": str(file)}).json()["npub"] == npub

    before = {str(p): p.read_bytes() for p in cli.home.rglob("*") if p.is_file()}
    started = time.monotonic()
    wrong = run(cli.home, "feed", fd_text="by mistake\n")
    assert "wrong passphrase" in one_error(wrong)
    assert time.monotonic() - started >= 1.0  # the first wait after a wrong passphrase
    assert {str(p): p.read_bytes() for p in cli.home.rglob("*") if p.is_file()} == before  # nothing changed


def typed(home: Path, args: tuple[str, ...], answers: list[str], timeout: float = 60.0) -> tuple[int, str, float]:
    """Run a command on a terminal (a pseudo-terminal) and type ``answers`` at its prompts, one a prompt."""
    main, secondary = pty.openpty()
    environment = cli_env()
    environment.pop("SAMIZDAT_PASSPHRASE_FILE")
    process = subprocess.Popen(
        command(home, *args), stdin=secondary, stdout=secondary, stderr=secondary, env=environment,
        start_new_session=True,
    )  # fmt: skip
    os.close(secondary)
    seen, answered, started = b"", 0, time.monotonic()
    try:
        while time.monotonic() - started < timeout:
            ready, _, _ = select.select([main], [], [], 0.2)
            if ready:
                try:
                    chunk = os.read(main, 4096)
                except OSError:
                    break
                if not chunk:
                    break
                seen += chunk
                if seen.rstrip().endswith(b":") and seen.count(b":") > answered and answered < len(answers):
                    os.write(main, answers[answered].encode() + b"\n")
                    answered += 1
            elif process.poll() is not None:
                break
        code = process.wait(timeout)
    finally:
        if process.poll() is None:
            process.kill()
        os.close(main)
    return code, seen.decode(errors="replace"), time.monotonic() - started


def test_on_a_terminal_init_asks_twice_and_a_wrong_passphrase_may_be_typed_again_waiting_longer(cli: Cli) -> None:
    code, screen, _ = typed(cli.home, ("init",), ["typed at a terminal", "typed at a terminal"])
    assert code == 0, screen
    assert "New passphrase" in screen
    assert "The same again" in screen
    assert "typed at a terminal" not in screen

    code, screen, took = typed(cli.home, ("keys", "show", "--no-qr"), ["wrong one", "wrong two", "typed at a terminal"])
    assert code == 0, screen
    assert screen.count("Wrong passphrase; try again.") == 2
    assert "npub1" in screen
    assert took >= 3.0  # 1 s after the first wrong passphrase, 2 s after the second

    code, screen, _ = typed(cli.home, ("feed",), ["no", "no", "no"])
    assert code == 1
    assert "error: wrong passphrase" in screen


def test_init_with_no_passphrase_warns_once_and_an_old_plain_directory_opens_with_a_notice(
    cli: Cli, make_cli: Callable[[str], Cli]
) -> None:
    made = run(cli.home, "init", "--no-passphrase", drop=NO_SOURCE)
    assert made.code == 0
    assert "NOT be encrypted" in made.err
    assert "docs/hub.md" in made.err
    assert (cli.home / "identity.key").exists()
    assert not (cli.home / "keys.slots").exists()
    feed = run(cli.home, "feed", drop=NO_SOURCE)
    assert feed.code == 0
    assert feed.err == ""

    old = make_cli("old")
    init_home(old.home)  # what `samizdat init` made before encryption
    listed = run(old.home, "channel", "list", drop=NO_SOURCE)
    assert listed.code == 0
    (notice,) = listed.err.splitlines()
    assert notice.startswith("notice: ")
    assert "is not encrypted" in notice


# -- passphrases -----------------------------------------------------------------------------------------------


def test_passphrases_are_added_changed_and_removed(cli: Cli) -> None:
    cli.ok("init")
    npub = cli.json("keys", "show")["npub"]

    def show(passphrase: str) -> CliResult:
        return run(cli.home, "keys", "show", "--json", fd_text=passphrase)

    added = run(cli.home, "passphrase", "add", "--json", drop=NO_SOURCE,
                fd_text=f"{TEST_PASSPHRASE}\nsecond one\n")  # fmt: skip
    assert added.json() == {"passphrases": 2}
    assert show("second one").json()["npub"] == npub
    assert show(TEST_PASSPHRASE).json()["npub"] == npub

    changed = run(cli.home, "passphrase", "change", drop=NO_SOURCE,
                  fd_text="second one\nthird one\n")  # fmt: skip
    assert changed.code == 0, changed.err
    assert "wrong passphrase" in one_error(show("second one"))
    assert show("third one").json()["npub"] == npub

    removed = run(cli.home, "passphrase", "remove", "--json", drop=NO_SOURCE,
                  fd_text=f"third one\n{TEST_PASSPHRASE}\n")  # fmt: skip
    assert removed.json() == {"passphrases": 1}
    assert "wrong passphrase" in one_error(show(TEST_PASSPHRASE))
    last = run(cli.home, "passphrase", "remove", drop=NO_SOURCE,
               fd_text="third one\nthird one\n")  # fmt: skip
    assert "last passphrase" in one_error(last)
    missing = run(cli.home, "passphrase", "add", fd_text="third one\n")
    assert "no second line" in one_error(missing)


# -- lock and wipe ---------------------------------------------------------------------------------------------


def test_lock_stops_a_running_serve_and_the_next_start_asks_again(cli: Cli, serve: Callable[..., ServeProcess]) -> None:
    cli.ok("init")
    cli.ok("channel", "create", "district", "--name", "District")
    node = serve(cli.home)
    locked = cli.ok("lock")
    assert f"(pid {node.process.pid}) has dropped its keys and stopped" in locked.out
    assert node.process.wait(10) == 0
    assert "locked: the keys are dropped" in node.output()
    assert not (cli.home / "serve.json").exists()
    assert "Nothing to lock" in cli.ok("lock").out
    assert "wrong passphrase" in one_error(run(cli.home, "serve", "--port", "0",
                                               fd_text="not it"))  # fmt: skip


def test_sigusr2_makes_serve_wipe_and_wipe_asks_unless_now(
    cli: Cli, make_cli: Callable[[str], Cli], serve: Callable[..., ServeProcess]
) -> None:
    cli.ok("init")
    node = serve(cli.home)
    slots = (cli.home / "keys.slots").read_bytes()
    node.process.send_signal(signal.SIGUSR2)
    assert node.process.wait(15) == 0
    assert not cli.home.exists()
    assert "wiped: the key slots were erased" in node.output()

    other = make_cli("other")
    other.ok("init")
    refused = one_error(run(other.home, "wipe"))
    assert "--now" in refused
    assert other.home.exists()
    running = serve(other.home)
    wiped = other.ok("wipe", "--now")
    assert f"the running serve, pid {running.process.pid}, was stopped" in wiped.out
    assert running.process.wait(15) == 0
    assert not other.home.exists()
    assert slots  # the first node's slots were there before the signal


def test_a_wipe_erases_the_slots_first(cli: Cli, tmp_path: Path) -> None:
    cli.ok("init")
    copy = tmp_path / "before"
    shutil.copytree(cli.home, copy)
    # What a wipe does first, on a copy (so the erased file can be looked at): the slots are random bytes after.
    from samizdat.services import keyring

    keyring.erase(copy)
    erased = (copy / "keys.slots").read_bytes()
    assert erased != (cli.home / "keys.slots").read_bytes()
    assert not erased.startswith(b"SMZKEYS1")
    assert "damaged" in one_error(run(copy, "feed"))
    cli.ok("wipe", "--now")
    assert not cli.home.exists()


# -- the seizure -------------------------------------------------------------------------------------------------


SECRETS_TEXT = {
    "channel name": "Kastrychnitski Yard Watch",
    "channel short name": "yardwatch7",
    "about": "Who knocks on doors at night",
    "post": "Three unmarked vans behind block 14",
    "second post": "Lawyer Ales answers until midnight",
    "place": "Kalvaryjskaja 21",
    "place tag": "BY/Minsk/Kastrychnitski",
    "mirror relay": "wss://mirror.yardwatch-relay.example",
    "write relay": "wss://writes.neighbours-relay.example",
    "followed channel": "Partyzanski Evening News",
}


def variants(text: str) -> list[bytes]:
    return [text.encode(), text.lower().encode(), text.upper().encode(), text.encode("utf-16-le")]


def secrets(home: Path, other: dict[str, Any]) -> dict[str, list[bytes]]:
    """Everything that must not be readable: texts, keys in every encoding, in several byte encodings."""
    key = load_identity(home, node_keys(home))
    secret = key.secret
    found = {name: variants(text) for name, text in SECRETS_TEXT.items()}
    found["npub"] = variants(nip19.npub_encode(key.public_key_hex))
    found["pubkey hex"] = [*variants(key.public_key_hex), bytes.fromhex(key.public_key_hex)]
    found["followed owner npub"] = variants(other["npub"])
    found["followed owner hex"] = [*variants(other["pubkey"]), bytes.fromhex(other["pubkey"])]
    found["followed naddr"] = variants(other["naddr"])
    found["secret key"] = [
        secret, *variants(secret.hex()), *variants(nip19.nsec_encode(secret.hex())),
        base64.b64encode(secret), base64.urlsafe_b64encode(secret), base64.b32encode(secret),
    ]  # fmt: skip
    return found


def every_file(top: Path) -> Iterator[Path]:
    for path in sorted(top.rglob("*")):
        if path.is_file() and not path.is_symlink():
            yield path


def leaks(top: Path, wanted: dict[str, list[bytes]]) -> list[str]:
    found = []
    for path in every_file(top):
        data = path.read_bytes()
        for name, needles in wanted.items():
            if any(needle in data for needle in needles):
                found.append(f"{path.relative_to(top)}: {name}")
    return found


def build_node(cli: Cli, other: Cli) -> dict[str, Any]:
    """A node with channels, follows, posts, an outbox and routes; ``other`` owns the followed channel."""
    s = SECRETS_TEXT
    other.ok("init")
    theirs = other.json("channel", "create", "evening", "--name", s["followed channel"])
    cli.ok("init")
    cli.ok("channel", "create", s["channel short name"], "--name", s["channel name"], "--about", s["about"],
           "--place", s["place tag"], "--lat", "53.89", "--lon", "27.55", "--mirror", s["mirror relay"])  # fmt: skip
    cli.ok("relays", "--write", s["write relay"])
    cli.ok("post", s["channel short name"], "--type", "alert", s["post"], "--place", s["place"], "--expires", "2h")
    cli.ok("post", s["channel short name"], "--type", "contact", s["second post"], "--role", "lawyer",
           "--reach", "+375 29 000")  # fmt: skip
    cli.ok("follow", theirs["naddr"])
    cli("sync", s["mirror relay"], "--channel", s["channel short name"])  # fails (no such host): a route is noted
    assert cli.json("routes"), "a route should be remembered"
    assert cli.json("status")["outbox"]["pending"], "posts should wait in the outbox"
    owner = other.json("keys", "show")
    return {"npub": owner["npub"], "pubkey": owner["pubkey"], "naddr": theirs["naddr"]}


def test_a_seized_data_directory_gives_nothing_away(
    cli: Cli, make_cli: Callable[[str], Cli], serve: Callable[..., ServeProcess], tmp_path: Path
) -> None:
    other = build_node(cli, make_cli("other"))
    wanted = secrets(cli.home, other)
    assert leaks(cli.home, wanted) == []  # stopped (that the search finds what it looks for: the test below)

    # Taken while it runs: a copy of the directory mid-write (WAL and all), then `samizdat lock`.
    node = serve(cli.home)
    cli.ok("post", SECRETS_TEXT["channel short name"], "Checkpoint on the ring road, " + SECRETS_TEXT["place"])
    cli.ok("channel", "edit", SECRETS_TEXT["channel short name"], "--about", SECRETS_TEXT["about"] + " and why")
    copy = tmp_path / "seized-while-running"
    subprocess.run(["cp", "-a", str(cli.home), str(copy)], check=True)
    assert any(p.name.endswith("-wal") for p in every_file(copy)), "a copy of a running node has its WAL"
    cli.ok("lock")
    assert node.process.wait(10) == 0
    assert leaks(copy, wanted) == []
    assert leaks(cli.home, wanted) == []
    # Both still open with the passphrase: nothing was lost by encrypting, or by the copy.
    assert SECRETS_TEXT["post"] in cli.ok("feed", SECRETS_TEXT["channel short name"]).out


def test_the_search_would_find_a_plain_nodes_secrets(cli: Cli, make_cli: Callable[[str], Cli]) -> None:
    other = make_cli("other")
    other.ok("init")
    theirs = other.json("channel", "create", "evening", "--name", SECRETS_TEXT["followed channel"])
    cli.ok("init", "--no-passphrase")
    cli.ok("channel", "create", SECRETS_TEXT["channel short name"], "--name", SECRETS_TEXT["channel name"])
    cli.ok("post", SECRETS_TEXT["channel short name"], SECRETS_TEXT["post"])
    cli.ok("follow", theirs["naddr"])
    owner = other.json("keys", "show")
    found = leaks(cli.home, secrets(cli.home, {**owner, "naddr": theirs["naddr"]}))
    for what in ("channel name", "post", "secret key", "pubkey hex", "followed owner hex"):
        assert any(line.endswith(f": {what}") for line in found), (what, found)


# -- damage ------------------------------------------------------------------------------------------------------


def snapshot(home: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in every_file(home)}


def test_damage_is_one_sentence_and_changes_nothing(
    cli: Cli, serve: Callable[..., ServeProcess], tmp_path: Path
) -> None:
    cli.ok("init")
    cli.ok("channel", "create", "district", "--name", "District")
    cli.ok("post", "district", "Stored before serve started")

    slots = tmp_path / "slots"
    shutil.copytree(cli.home, slots)
    with (slots / "keys.slots").open("r+b") as handle:
        handle.seek(200)
        handle.write(b"\xff" * 8)
        handle.seek(4096 + 200)
        handle.write(b"\xff" * 8)
    before = snapshot(slots)
    assert "keys.slots is damaged" in one_error(run(slots, "feed"))
    assert snapshot(slots) == before

    truncated = tmp_path / "truncated"
    shutil.copytree(cli.home, truncated)
    with (truncated / "events.sqlite").open("r+b") as handle:
        handle.truncate((truncated / "events.sqlite").stat().st_size // 3)
    before = snapshot(truncated)
    assert "damaged" in one_error(run(truncated, "feed"))
    after = snapshot(truncated)
    assert after.pop("keys.slots") != before.pop("keys.slots")  # every unlock rewrites the slots (vault.py)
    assert after == before  # nothing else written: the intact parts (and the local state) are as they were

    # A copy taken while serve runs, its WAL then lost: what the database file holds still opens.
    node = serve(cli.home)
    cli.ok("post", "district", "Stored while serving")
    copy = tmp_path / "no-wal"
    subprocess.run(["cp", "-a", str(cli.home), str(copy)], check=True)
    node.stop()
    (copy / "events.sqlite-wal").unlink(missing_ok=True)
    shown = run(copy, "feed", "district")
    assert shown.code == 0, shown.err
    assert "Stored before serve started" in shown.out


def test_serve_takes_one_line_from_a_descriptor_left_open(cli: Cli, tmp_path: Path) -> None:
    cli.ok("init")
    reader, writer = os.pipe()
    environment = cli_env()
    environment.pop("SAMIZDAT_PASSPHRASE_FILE")
    log = (tmp_path / "serve.log").open("wb")
    process = subprocess.Popen(
        [*command(cli.home), "--passphrase-fd", str(reader), "serve", "--port", "0"],
        stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, env=environment, pass_fds=(reader,),
    )  # fmt: skip
    os.close(reader)
    try:
        os.write(writer, f"{TEST_PASSPHRASE}\n".encode())  # and the script keeps its end open
        deadline = time.monotonic() + 30
        while not (cli.home / "serve.json").exists():
            assert process.poll() is None, (tmp_path / "serve.log").read_text()
            assert time.monotonic() < deadline, "serve did not start with a passphrase line on an open pipe"
            time.sleep(0.1)
        assert "Locked" in cli.ok("lock").out
        assert process.wait(15) == 0
    finally:
        os.close(writer)
        if process.poll() is None:
            process.kill()
            process.wait()
        log.close()

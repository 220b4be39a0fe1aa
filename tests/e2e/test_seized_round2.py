"""What a laptop shows another account on it while the node runs (red team, round 2).

Another account (a guest, a family member's login, a service running as its own user) reaches the node's
loopback address like its owner: it used to get what only the owner may see (the relays the node uses, the node's
key); now it gets what a phone on the Wi-Fi gets.

Every account on the machine reads every process's command line (``ps``, ``/proc/PID/cmdline``), and the shell
writes it to its history. So: while ``samizdat post town "text"`` publishes (here to a relay on loopback that takes
the connection and never answers, so the command is caught in the middle of its work), its command line holds
neither the text nor the channel; ``-`` reads the text from standard input; and at a terminal, text given as an
argument gets one line saying that the shell's history keeps it (text from a pipe or ``-`` gets none)."""

from __future__ import annotations

import contextlib
import json
import os
import shlex
import shutil
import socket
import subprocess
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from conftest import Cli, ServeProcess, cli_env, command
from samizdat.testing import CreatedFiles, passphrase_env

CHANNEL = "nightwatch7731"
SECRET = "Second column of vans turning onto Partyzanski 7731"
MIRROR = "wss://nightwatch-mirror-7731.invalid"
NOBODY = 65534


def status_as(uid: int, url: str) -> str:
    """/api/status as a program of account ``uid`` gets it (curl: the test's Python is not every account's)."""
    curl = shutil.which("curl")
    if curl is None:
        pytest.skip("curl is not installed")
    done = subprocess.run([curl, "-sS", "--max-time", "30", url + "api/status"], capture_output=True, text=True,
                          timeout=60, user=uid, check=False, cwd="/")  # fmt: skip
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_another_account_on_the_machine_does_not_see_the_owners_relays_or_key(
    cli: Cli, serve: Callable[..., ServeProcess]
) -> None:
    if os.geteuid() != 0:
        pytest.skip("needs root, to ask as another user")
    cli.ok("init")
    npub = cli.json("keys", "show")["npub"]
    cli.ok("channel", "create", CHANNEL, "--name", "Night watch", "--mirror", MIRROR)
    node = serve(cli.home)
    url = node.http_url if node.http_url.endswith("/") else node.http_url + "/"
    own = status_as(os.getuid(), url)
    assert MIRROR in own  # the owner's own view
    assert npub in own
    other = status_as(NOBODY, url)
    assert MIRROR not in other
    assert npub not in other
    assert json.loads(other)["relays"][0]["url"] is None  # as a phone on the Wi-Fi sees it


def free_port() -> int:
    with socket.create_server(("127.0.0.1", 0)) as probe:
        return int(probe.getsockname()[1])


@contextlib.contextmanager
def silent_relay(port: int) -> Iterator[socket.socket]:
    """A listening socket on loopback that nobody answers on: a relay that takes connections and says nothing."""
    server = socket.create_server(("127.0.0.1", port))
    server.settimeout(60)
    try:
        yield server
    finally:
        server.close()


def test_a_post_given_as_an_argument_is_not_in_its_command_line_while_it_publishes(cli: Cli) -> None:
    port = free_port()
    cli.ok("init")
    # made while nothing listens there (the definition waits in the outbox), so the relay's first caller is the post
    cli.ok("channel", "create", CHANNEL, "--name", "Night watch", "--mirror", f"ws://127.0.0.1:{port}")
    with silent_relay(port) as relay:
        line, shown, err, code = publish_caught(cli, relay)
    assert SECRET.encode() not in line
    assert CHANNEL.encode() not in line
    assert "samizdat" in shown
    assert SECRET not in shown
    assert CHANNEL not in shown
    assert code == 0, err
    (post,) = cli.json("feed", CHANNEL)
    assert post["text"] == SECRET  # the command itself got its arguments


def publish_caught(cli: Cli, relay: socket.socket) -> tuple[bytes, str, str, int]:
    """``samizdat post CHANNEL SECRET``, its command line as another account reads it while the relay holds the
    post's connection (/proc and ps), then its stderr and exit code."""
    process = subprocess.Popen(command(cli.home, "post", CHANNEL, SECRET), env=cli_env(), stdin=subprocess.DEVNULL,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE)  # fmt: skip
    try:
        connection, _ = relay.accept()  # the post is publishing now
        try:
            line = Path(f"/proc/{process.pid}/cmdline").read_bytes()
            shown = subprocess.run(["ps", "-o", "args=", "-p", str(process.pid)], capture_output=True, text=True,
                                   timeout=30, check=False).stdout  # fmt: skip
        finally:
            connection.close()
        _, err = process.communicate(timeout=90)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(10)
    return line, shown, err.decode(), process.returncode


def at_a_terminal(home: Path, args: list[str], *, piped: str | None = None) -> subprocess.CompletedProcess[str]:
    """The command as a person runs it in a terminal (a pty: `script`), its text piped in when given."""
    line = " ".join(shlex.quote(a) for a in command(home, *args))
    if piped is not None:
        line = f"printf %s {shlex.quote(piped)} | {line}"
    return subprocess.run(["script", "-qec", line, "/dev/null"], capture_output=True, text=True, timeout=90,
                          env=cli_env(), stdin=subprocess.DEVNULL, check=False)  # fmt: skip


def test_at_a_terminal_a_post_typed_as_an_argument_gets_a_warning_and_dash_reads_stdin(cli: Cli) -> None:
    cli.ok("init")
    cli.ok("channel", "create", CHANNEL, "--name", "Night watch")
    typed = at_a_terminal(cli.home, ["post", CHANNEL, "Typed on the command line"])
    assert typed.returncode == 0, typed.stdout + typed.stderr
    assert "your shell's history keeps it" in typed.stdout  # script(1) puts stderr on the terminal too

    piped = at_a_terminal(cli.home, ["post", CHANNEL, "-"], piped="Piped in with a dash")
    assert piped.returncode == 0, piped.stdout + piped.stderr
    assert "history" not in piped.stdout
    texts = sorted(p["text"] for p in cli.json("feed", CHANNEL))
    assert texts == ["Piped in with a dash", "Typed on the command line"]


def test_a_post_written_in_vim_leaves_nothing_in_its_viminfo(cli: Cli, tmp_path: Path) -> None:
    """vim keeps what was yanked or deleted, and the names of files it edited, in ~/.viminfo, on disk in plain."""
    vim = shutil.which("vim")
    if vim is None:
        pytest.skip("vim is not installed")
    cli.ok("init")
    cli.ok("channel", "create", CHANNEL, "--name", "Night watch")
    user_home = tmp_path / "user"
    user_home.mkdir()
    # A person typing the post, yanking a line, then saving: vim driven by its own commands, in a terminal.
    editor = f"{vim} -c 'normal! ggi{SECRET}' -c 'normal! yy' -c wq"
    line = " ".join(shlex.quote(a) for a in command(cli.home, "post", CHANNEL))
    done = subprocess.run(["script", "-qec", line, "/dev/null"], capture_output=True, text=True, timeout=90,
                          env={**cli_env(), "HOME": str(user_home), "EDITOR": editor}, stdin=subprocess.DEVNULL,
                          check=False)  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    (post,) = cli.json("feed", CHANNEL)
    assert post["text"] == SECRET
    left = [p.relative_to(user_home) for p in user_home.rglob("*") if p.is_file()]
    kept = b"".join(p.read_bytes() for p in user_home.rglob("*") if p.is_file())
    assert SECRET.encode() not in kept, left
    assert b"samizdat" not in kept.lower(), left


def test_serve_with_workers_leaves_nothing_in_the_temporary_folder(
    cli: Cli, serve: Callable[..., ServeProcess], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The workers' sockets and shared counters live in memory, in a folder whose name does not say Samizdat: a
    power cut while the node runs leaves no trace of it in a /tmp on disk."""
    passphrase_env()  # the tests' passphrase file, made before $TMPDIR changes (it is ours, not the node's)
    cli.ok("init")
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    watch = CreatedFiles(tmp)
    try:
        monkeypatch.setenv("TMPDIR", str(tmp))
        node = serve(cli.home, "--workers", "2")
        with urllib.request.urlopen(node.http_url, timeout=30) as answer:
            assert answer.status == 200
        opened = [os.readlink(fd) for pid in workers_of(node.process.pid) for fd in Path(f"/proc/{pid}/fd").iterdir()]
        node.stop()
        assert watch.names() == []
    finally:
        watch.close()
    shared = [path for path in opened if path.endswith("/limits")]
    assert shared  # the workers' shared counters, opened outside the data directory
    assert not [path for path in shared if "samizdat" in path.lower() or path.startswith(str(tmp))]


def workers_of(parent: int) -> list[int]:
    children = Path(f"/proc/{parent}/task/{parent}/children").read_text().split()
    return [int(pid) for pid in children if b"spawn_main" in Path(f"/proc/{pid}/cmdline").read_bytes()]

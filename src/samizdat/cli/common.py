"""What every command shares: the data directory option, the passphrase that unlocks it, running async code,
printing data or JSON, errors, and a quick look at the proxies named on the command line (``--proxy tor``,
``--via tor``): a post made while Tor is not running is still stored and queued, but the person hears at once
that it cannot leave yet.

Passphrases come from, in this order: ``--passphrase-fd N`` (lines read from that file descriptor, one at a time),
``SAMIZDAT_PASSPHRASE_FILE`` (the lines of that file), else the terminal. A command that needs several (``passphrase
change``: the current one, then the new one) takes them line after line. Without any of these, a command that
needs one stops with one sentence naming them.
"""

from __future__ import annotations

import asyncio
import contextlib
import getpass
import io
import os
import sys
from collections.abc import Awaitable, Callable, Coroutine
from pathlib import Path
from typing import Any, TypeVar

import orjson
import typer

from samizdat.config import Config, load_config, resolve_home
from samizdat.core.display import neutralize
from samizdat.core.sealing import NodeKeys, UnlockedKeys
from samizdat.errors import UsageError
from samizdat.net.failover import Routing
from samizdat.net.transports import parse_transport
from samizdat.node import Node
from samizdat.services import deadman, encryption, instance, keyring
from samizdat.services.context import Context
from samizdat.services.keyring import FailureDelay, WrongPassphrase

T = TypeVar("T")

PROXY_CHECK_TIMEOUT = 2.0  #: seconds a proxy named on the command line has to accept a TCP connection

JsonOption = typer.Option(False, "--json", help="Print machine-readable JSON instead of text.")


class State:
    """Options given before the command (``samizdat --home DIR post ...``)."""

    home: Path | None = None
    proxy: str | None = None  # --proxy: every relay through this transport only
    via: tuple[str, ...] = ()  # --via: transports to fall back on when a direct connection fails
    passphrase_fd: int | None = None  # --passphrase-fd: read passphrases from this descriptor
    passphrase_lines: list[str] | None = None  # what the passphrase source gave, read once
    passphrases_taken = 0  # how many of those lines the command has used
    keys: UnlockedKeys | None = None  # the unlocked node's keys and its decoy store's, once asked for
    delay = FailureDelay()  # waits after wrong passphrases, growing, for this process
    switch_checked = False  # whether [safety] wipe_after_days was looked at (home() does, once)


state = State()


def home() -> Path:
    """The data directory. The first call of a command wipes it if ``[safety] wipe_after_days`` says it is due,
    before anything asks for its passphrase (:func:`dead_mans_switch`)."""
    path = resolve_home(state.home)
    if not state.switch_checked:
        state.switch_checked = True
        dead_mans_switch(path)
    return path


def dead_mans_switch(path: Path) -> None:
    """Wipe an encrypted ``path`` nobody proved presence on for ``wipe_after_days`` (services/deadman.py), say so
    in one line and stop the command (exit 1). A configuration that does not load is left to the command."""
    if keyring.kind(path) != "encrypted":
        return
    try:
        days = load_config(path).wipe_after_days
    except UsageError:
        return
    if deadman.wipe_if_due(path, days):
        typer.echo(
            f"wiped: nobody unlocked this node for more than {days:g} days ([safety] wipe_after_days), "
            f"so its keys were erased and {path} deleted",
            err=True,
        )
        raise typer.Exit(1)


def configured(config: Config | None = None) -> Config:
    """The data directory's configuration with the command line's ``--proxy`` / ``--via`` applied."""
    config = config or load_config(home())
    return config.with_overrides(proxy=state.proxy, via=state.via or None)


def run(coroutine: Coroutine[Any, Any, T]) -> T:
    return asyncio.run(coroutine)


def warn(text: str) -> None:
    """One ``warning: ...`` line on standard error: the command goes on."""
    typer.echo(f"warning: {neutralize(text)}", err=True)


def _named_proxies() -> list[str]:
    """The proxies the command line names (``--proxy``, ``--via``, ``--via RELAY=TRANSPORT``), ``direct`` left out."""
    specs = [state.proxy or ""]
    for entry in state.via:
        url, equals, spec = entry.partition("=")
        specs.append(spec if equals and url.startswith(("ws://", "wss://")) else entry)
    return list(dict.fromkeys(s.strip() for s in specs if s.strip() and s.strip() != "direct"))


async def _answers(host: str, port: int) -> str | None:
    """None when ``host:port`` accepts a TCP connection within :data:`PROXY_CHECK_TIMEOUT`, else why not."""
    try:
        async with asyncio.timeout(PROXY_CHECK_TIMEOUT):
            _, writer = await asyncio.open_connection(host, port)
    except TimeoutError:
        return f"no answer within {PROXY_CHECK_TIMEOUT:g} s"
    except OSError as exc:
        reason = os.strerror(exc.errno) if exc.errno else str(exc) or type(exc).__name__
        return reason[:1].lower() + reason[1:]
    writer.close()
    with contextlib.suppress(OSError):
        await writer.wait_closed()
    return None


async def check_proxies(routing: Routing) -> None:
    """Warn (on standard error, at once) about each proxy named on the command line that does not accept
    connections: Tor not started, a typo in the port. Posts are still stored and queued for ``serve``."""
    specs = _named_proxies()
    targets = []
    for spec in specs:
        try:
            address = getattr(parse_transport(spec, tor=routing.tor), "address", None)
        except UsageError:
            continue  # the routing's own check already says what is wrong with it
        if address is not None:
            targets.append((spec, address.host, address.port))
    problems = await asyncio.gather(*(_answers(host, port) for _, host, port in targets))
    for (spec, host, port), problem in zip(targets, problems, strict=True):
        if problem is None:
            continue
        where = f"{host}:{port}"  # not the spec: it may hold a password
        what = f"Tor is not running at {where}" if spec == "tor" else f"the proxy at {where} does not answer"
        warn(f"{what}: {problem}; nothing goes through it until it does (posts wait in the outbox)")


# -- passphrases ----------------------------------------------------------------------------------------------

PASSPHRASE_FILE_VARIABLE = "SAMIZDAT_PASSPHRASE_FILE"
#: Wrong passphrases typed at a terminal before a command gives up (each waits longer: FailureDelay).
TERMINAL_TRIES = 3


def _no_source(what: str) -> UsageError:
    return UsageError(
        f"{what} and there is no terminal to ask on: give it with --passphrase-fd N or "
        f"{PASSPHRASE_FILE_VARIABLE}=FILE (a file on the same disk protects nothing), or run the command in a terminal"
    )


def _source_lines(needed: int) -> tuple[list[str], str] | None:
    """The lines of the passphrase source (``--passphrase-fd``, else ``SAMIZDAT_PASSPHRASE_FILE``), at least
    ``needed`` of them if it has that many, and its name. A descriptor is read a line at a time, only as far as
    needed: a script may keep its end of a pipe open."""
    if state.passphrase_fd is not None:
        where = f"--passphrase-fd {state.passphrase_fd}"
        if state.passphrase_lines is None:
            state.passphrase_lines = []
        lines = state.passphrase_lines
        while len(lines) < needed:
            line = _read_line(state.passphrase_fd, where)
            if line is None:
                break
            lines.append(line)
        return lines, where
    path = os.environ.get(PASSPHRASE_FILE_VARIABLE, "").strip()
    if not path:
        return None
    where = f"{PASSPHRASE_FILE_VARIABLE} ({path})"
    if state.passphrase_lines is None:
        try:
            data = Path(path).expanduser().read_bytes()
        except OSError as exc:
            raise UsageError(f"cannot read the passphrase file {path}: {exc.strerror or exc}") from exc
        state.passphrase_lines = _lines(data, where)
    return state.passphrase_lines, where


def _read_line(fd: int, where: str) -> str | None:
    """One line from ``fd`` (without its end), read a byte at a time so nothing after it is taken; None at EOF."""
    data = bytearray()
    try:
        while (byte := os.read(fd, 1)) and byte != b"\n":
            data += byte
    except OSError as exc:
        raise UsageError(f"cannot read {where}: {exc.strerror or exc}") from exc
    if not data and not byte:
        return None
    return _lines(bytes(data), where)[0]


def _lines(data: bytes, where: str) -> list[str]:
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise UsageError(f"{where} is not UTF-8 text") from exc
    return [line.rstrip("\r") for line in text.split("\n")]


def has_terminal() -> bool:
    return sys.stdin.isatty()


def ask_passphrase(prompt: str, *, missing: str, confirm: bool = False) -> str:
    """The next passphrase: the next line of the passphrase source, else typed at the terminal (twice with
    ``confirm``). ``missing`` starts the sentence said when there is neither ("this node is encrypted")."""
    index = state.passphrases_taken
    source = _source_lines(index + 1)
    if source is not None:
        lines, where = source
        state.passphrases_taken += 1
        if index >= len(lines) or not lines[index]:
            nth = ("first", "second", "third")[index] if index < 3 else f"line {index + 1}"
            raise UsageError(f"{where} has no {nth} line: {prompt.rstrip(': ').lower()} goes there")
        return lines[index]
    if not has_terminal():
        raise _no_source(missing)
    first = getpass.getpass(prompt)
    if confirm and getpass.getpass("The same again: ") != first:
        raise UsageError("the two passphrases differ; nothing was changed")
    return first


def from_terminal() -> bool:
    """Whether passphrases are typed (so a wrong one may be typed again)."""
    return state.passphrase_fd is None and not os.environ.get(PASSPHRASE_FILE_VARIABLE, "").strip()


def notice_plain(path: Path) -> None:
    """One line on standard error for a plain directory made before encryption (not for ``--no-passphrase``)."""
    if keyring.kind(path) == "plain" and not keyring.plain_on_purpose(path):
        typer.echo(
            f"notice: {path} is not encrypted (it was made before Samizdat encrypted its data): "
            "whoever holds this disk can read it",
            err=True,
        )


def unlock_with(attempt: Callable[[str], T], prompt: str = "Passphrase: ") -> T:
    """``attempt(passphrase)`` with the node's passphrase; on a terminal a wrong one may be typed again (up to
    :data:`TERMINAL_TRIES` times, each wait longer), from a source it is one try."""
    tries = TERMINAL_TRIES if from_terminal() else 1
    for left in range(tries - 1, -1, -1):
        passphrase = ask_passphrase(prompt, missing=f"{home()} is encrypted, its passphrase is needed")
        try:
            return attempt(passphrase)
        except WrongPassphrase:
            if not left:
                raise
            typer.echo("Wrong passphrase; try again.", err=True)
    raise AssertionError("unreachable")


def settle(path: Path) -> encryption.Settled | None:
    """Finish or roll back a ``samizdat encrypt`` of ``path`` that was interrupted, saying so in one line."""
    settled = encryption.settle(path)
    if settled is not None and settled.finished:
        typer.echo(f"notice: finished encrypting {path} (an earlier `samizdat encrypt` was interrupted)", err=True)
    elif settled is not None:
        typer.echo(
            f"notice: an interrupted `samizdat encrypt` was undone: {path} is still NOT encrypted "
            "(run `samizdat encrypt` again)",
            err=True,
        )
    return settled


def node_keys(path: Path | None = None) -> NodeKeys | None:
    """The keys of the node in ``path`` (default: the command's home), asking for its passphrase once per process;
    None for a plain or a missing node (a notice for an old plain one). An interrupted ``samizdat encrypt`` is
    finished or rolled back first."""
    keys = unlocked_keys(path)
    return None if keys is None else keys.node


def unlocked_keys(path: Path | None = None) -> UnlockedKeys | None:
    """As :func:`node_keys`, with the decoy store's keys too (``serve`` keeps the decoy store in step)."""
    path = path or home()
    settle(path)
    kind = keyring.kind(path)
    if kind != "encrypted":
        notice_plain(path)
        return None
    if state.keys is None:
        state.keys = unlock_with(lambda passphrase: keyring.unlock_keys(path, passphrase, state.delay))
    return state.keys


async def with_node(action: Callable[[Context], Awaitable[T]], config: Config | None = None) -> T:
    """Open the node (asking for its passphrase), run ``action`` on its services' context, close the node."""
    keys = node_keys()
    instance.command_beside_serve(home())
    node = await Node.open(home(), configured(config), keys=keys)
    try:
        await check_proxies(node.ctx.routing)
        return await action(node.ctx)
    finally:
        await node.close()


def emit(data: Any, as_json: bool, text: Callable[[Any], str] | str | None = None) -> None:
    """Print ``data`` as JSON (with ``--json``) or as text for a person."""
    if as_json:
        sys.stdout.write(orjson.dumps(data, option=orjson.OPT_INDENT_2).decode() + "\n")
    elif text is not None:
        out = text(data) if callable(text) else text
        if out:
            typer.echo(out)


def qr_text(payload: str) -> str:
    import segno

    buffer = io.StringIO()
    segno.make(payload, error="m").terminal(out=buffer, compact=True)
    return buffer.getvalue()

"""What every command shares: the data directory option, running async code, printing data or JSON, errors,
and a quick look at the proxies named on the command line (``--proxy tor``, ``--via tor``): a post made while Tor
is not running is still stored and queued, but the person hears at once that it cannot leave yet."""

from __future__ import annotations

import asyncio
import contextlib
import io
import os
import sys
from collections.abc import Awaitable, Callable, Coroutine
from pathlib import Path
from typing import Any, TypeVar

import orjson
import typer

from samizdat.config import Config, load_config, resolve_home
from samizdat.errors import UsageError
from samizdat.net.failover import Routing
from samizdat.net.transports import parse_transport
from samizdat.node import Node
from samizdat.services.context import Context

T = TypeVar("T")

PROXY_CHECK_TIMEOUT = 2.0  #: seconds a proxy named on the command line has to accept a TCP connection

JsonOption = typer.Option(False, "--json", help="Print machine-readable JSON instead of text.")


class State:
    """Options given before the command (``samizdat --home DIR post ...``)."""

    home: Path | None = None
    proxy: str | None = None  # --proxy: every relay through this transport only
    via: tuple[str, ...] = ()  # --via: transports to fall back on when a direct connection fails


state = State()


def home() -> Path:
    return resolve_home(state.home)


def configured(config: Config | None = None) -> Config:
    """The data directory's configuration with the command line's ``--proxy`` / ``--via`` applied."""
    config = config or load_config(home())
    return config.with_overrides(proxy=state.proxy, via=state.via or None)


def run(coroutine: Coroutine[Any, Any, T]) -> T:
    return asyncio.run(coroutine)


def warn(text: str) -> None:
    """One ``warning: ...`` line on standard error: the command goes on."""
    typer.echo(f"warning: {text}", err=True)


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
        _, writer = await asyncio.wait_for(asyncio.open_connection(host, port), PROXY_CHECK_TIMEOUT)
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


async def with_node(action: Callable[[Context], Awaitable[T]], config: Config | None = None) -> T:
    """Open the node, run ``action`` on its services' context, close the node."""
    node = await Node.open(home(), configured(config))
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

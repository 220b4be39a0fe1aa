"""What every command shares: the data directory option, running async code, printing data or JSON, errors."""

from __future__ import annotations

import asyncio
import io
import sys
from collections.abc import Awaitable, Callable, Coroutine
from pathlib import Path
from typing import Any, TypeVar

import orjson
import typer

from samizdat.config import Config, load_config, resolve_home
from samizdat.node import Node
from samizdat.services.context import Context

T = TypeVar("T")

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


async def with_node(action: Callable[[Context], Awaitable[T]], config: Config | None = None) -> T:
    """Open the node, run ``action`` on its services' context, close the node."""
    node = await Node.open(home(), configured(config))
    try:
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

"""The ``samizdat`` command line: thin commands over :mod:`samizdat.node` and the pure cores.

Every command that prints data takes ``--json``. Errors are one sentence on standard error and a non-zero exit
(1 for a refused request, 2 for a usage mistake), never a traceback; ``SAMIZDAT_DEBUG=1`` shows tracebacks of
unexpected failures for bug reports.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import os
import signal
import sys
from pathlib import Path

import typer

from samizdat.cli import channels, netcheck, peers, sync, web
from samizdat.cli.common import JsonOption, configured, emit, home, qr_text, run, state, with_node
from samizdat.config import init_home, load_config, load_identity
from samizdat.core import kinds, nip19
from samizdat.core.event import Event
from samizdat.core.filters import Filter
from samizdat.core.relaylist import RelayList, build_relay_list
from samizdat.errors import SamizdatError
from samizdat.mesh.peers import MeshOptions
from samizdat.node import CLI_DELIVERY_BUDGET, Node

app = typer.Typer(
    name="samizdat",
    help="Channels that keep talking when the network is blocked or switched off.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
keys_app = typer.Typer(help="Show this node's identity.", no_args_is_help=True)
app.add_typer(keys_app, name="keys")
channels.register(app)
peers.register(app)
sync.register(app)
netcheck.register(app)
web.register(app)


@app.callback()
def _options(
    home_dir: Path | None = typer.Option(
        None, "--home", envvar="SAMIZDAT_HOME", help="Data directory (default ~/.samizdat).", show_default=False
    ),
    verbose: bool = typer.Option(False, "--verbose", "-v", help="Log what the node does."),
    proxy: str | None = typer.Option(
        None, "--proxy", help="Reach every relay only through this proxy (socks5h://HOST:PORT, http://HOST:PORT, tor)."
    ),
    via: list[str] = typer.Option(
        [],
        "--via",
        help="A transport to fall back on when a relay is blocked, or RELAY=TRANSPORT for one relay (repeatable).",
    ),
) -> None:
    state.home = home_dir
    state.proxy = proxy
    state.via = tuple(via)
    logging.basicConfig(level=logging.INFO if verbose else logging.WARNING, format="%(asctime)s %(name)s: %(message)s")


@app.command()
def init(as_json: bool = JsonOption) -> None:
    """Create the data directory with a new identity (does nothing if it exists)."""
    path = home()
    created = init_home(path)
    key = load_identity(path)
    npub = nip19.npub_encode(key.public_key_hex)
    data = {"home": str(path), "created": created, "npub": npub, "pubkey": key.public_key_hex}
    verb = "Created" if created else "Already set up:"
    emit(data, as_json, f"{verb} {path}\nYour identity: {npub}")


@keys_app.command("show")
def keys_show(as_json: bool = JsonOption, qr: bool = typer.Option(True, help="Draw the npub as a QR code.")) -> None:
    """Print this node's public identity (npub) and its QR code. The secret key never leaves identity.key."""
    key = load_identity(home())
    npub = nip19.npub_encode(key.public_key_hex)
    emit({"npub": npub, "pubkey": key.public_key_hex}, as_json, lambda d: (qr_text(npub) if qr else "") + npub)


@app.command()
def relays(
    write: list[str] = typer.Option([], "--write", help="Add a relay you publish to (repeatable)."),
    read: list[str] = typer.Option([], "--read", help="Add a relay you read from (repeatable)."),
    remove: list[str] = typer.Option([], "--remove", help="Drop a relay from both lists (repeatable)."),
    as_json: bool = JsonOption,
) -> None:
    """Show or change your NIP-65 relay list: every post you make also goes to your write relays."""

    async def action(node: Node) -> dict[str, object]:
        current = await node.relay_list()
        if write or read or remove:
            new = RelayList(
                tuple(u for u in dict.fromkeys([*current.read, *read]) if u not in remove),
                tuple(u for u in dict.fromkeys([*current.write, *write]) if u not in remove),
            )
            previous = await _relay_list_event(node)
            event = build_relay_list(node.key, new, created_at=max(node.now(), _created(previous)))
            await node.publish([event], new.write)
            await node.deliver_outbox(budget=CLI_DELIVERY_BUDGET)
            current = new
        return {"read": list(current.read), "write": list(current.write)}

    data = run(with_node(action))
    emit(
        data,
        as_json,
        lambda d: (
            "Write relays: " + (", ".join(d["write"]) or "none") + "\nRead relays: " + (", ".join(d["read"]) or "none")
        ),
    )


async def _relay_list_event(node: Node) -> Event | None:
    found = await node.store.query(
        [Filter(kinds=frozenset({kinds.RELAY_LIST}), authors=frozenset({node.key.public_key_hex}), limit=1)]
    )
    return found[0] if found else None


def _created(event: Event | None) -> int:
    """A replacement must be newer than what it replaces, even when the clock went backwards."""
    return 0 if event is None else event.created_at + 1


@app.command()
def serve(
    host: str | None = typer.Option(None, help="Address to listen on (default 127.0.0.1; 0.0.0.0 for a hub)."),
    port: int | None = typer.Option(None, help="Port for the relay and the web page (default 4848)."),
    lan: bool = typer.Option(
        False,
        "--lan",
        help="Take part in the LAN: listen on all interfaces, announce "
        "this node with mDNS, find and sync with the others.",
    ),
    hub: bool = typer.Option(False, "--hub", help="Serve a building's Wi-Fi: --lan, advertised as a hub."),
    mdns: bool | None = typer.Option(
        None, "--mdns/--no-mdns", help="Announce and look for peers with mDNS when listening on the LAN (default on)."
    ),
    carry_mb: float | None = typer.Option(
        None, "--carry-mb", min=0, help="Megabytes kept for channels you do not follow (default 256)."
    ),
) -> None:
    """Run the node: relay and web page on one port, LAN peers, outbox delivery, background sync."""
    path = home()
    if (lan or hub) and host is None:
        host = "0.0.0.0"
    config = configured(load_config(path)).with_overrides(host=host, port=port, mdns=mdns, carry_mb=carry_mb)
    on_lan = not _is_loopback(config.host)
    mesh = MeshOptions(discover=on_lan and config.mdns, announce=on_lan and config.mdns, hub=hub)

    async def main() -> None:
        # SIGTERM (systemd, `kill`, `timeout`) stops the node as cleanly as Ctrl-C does.
        task = asyncio.current_task()
        assert task is not None
        asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, task.cancel)
        node = await Node.open(path, config)
        try:

            def ready(bound_host: str, bound_port: int) -> None:
                typer.echo(f"Samizdat relay listening on ws://{bound_host}:{bound_port} (Ctrl-C stops)", err=True)

            await node.serve(config.host, config.port, ready=ready, background=[sync.background_sync], mesh=mesh)
        finally:
            await node.close()

    try:
        run(main())
    except (KeyboardInterrupt, asyncio.CancelledError):
        typer.echo("stopped", err=True)


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


@app.command()
def status(as_json: bool = JsonOption) -> None:
    """What this node holds, what it still has to deliver where, and how syncing went."""

    async def collect(node: Node) -> dict[str, object]:
        stats = await node.store.stats()
        outbox = node.local.outbox()
        pending = [r for r in outbox if r.state == "pending"]
        failed = [r for r in outbox if r.state == "failed"]
        return {
            "home": str(node.home),
            "npub": nip19.npub_encode(node.key.public_key_hex),
            "store": stats,
            "serving": node.running_relay_url(),
            "follows": list(node.local.follows()),
            "peers": [
                {"url": p.url, "source": p.source, "state": p.state, "last_sync": p.last_sync}
                for p in node.local.peers()
            ],
            "outbox": {
                "pending": [
                    {
                        "event": r.event_id,
                        "relay": r.relay,
                        "attempts": r.attempts,
                        "next_attempt": r.next_attempt,
                        "last": r.last_message,
                    }
                    for r in pending
                ],
                "failed": [{"event": r.event_id, "relay": r.relay, "last": r.last_message} for r in failed],
                "accepted": sum(1 for r in outbox if r.state == "accepted"),
            },
            "sync": [
                {
                    "relay": r.relay,
                    "scope": r.scope,
                    "last_success": r.last_success,
                    "failures": r.failures,
                    "summary": r.summary,
                }
                for r in node.local.sync_rows()
            ],
        }

    data = run(with_node(collect))

    def text(d: dict[str, object]) -> str:
        outbox = d["outbox"]
        assert isinstance(outbox, dict)
        lines = [
            f"Home: {d['home']}",
            f"Identity: {d['npub']}",
            "Stored events: " + ", ".join(f"{k} {v}" for k, v in d["store"].items()),  # type: ignore[attr-defined]
            f"Serving: {d['serving'] or 'no'}",
            f"Following {len(d['follows'])} channel(s)",  # type: ignore[arg-type]
            "Peers: "
            + (
                ", ".join(f"{p['url']} ({p['state']})" for p in d["peers"])  # type: ignore[attr-defined]
                or "none (see `samizdat peers`)"
            ),
            f"Outbox: {len(outbox['pending'])} pending, {len(outbox['failed'])} failed, {outbox['accepted']} delivered",
        ]
        for row in outbox["pending"]:
            lines.append(f"  pending {row['event'][:12]} -> {row['relay']} (tries {row['attempts']}: {row['last']})")
        for row in outbox["failed"]:
            lines.append(f"  failed  {row['event'][:12]} -> {row['relay']} ({row['last']})")
        return "\n".join(lines)

    emit(data, as_json, text)


def main() -> None:
    """Entry point: run the app, turning every expected error into one sentence and an exit code."""
    from typer._click.exceptions import ClickException

    try:
        code = app(standalone_mode=False)
    except SamizdatError as exc:
        typer.echo(f"error: {exc}", err=True)
        sys.exit(1)
    except (typer.Abort, KeyboardInterrupt):
        typer.echo("aborted", err=True)
        sys.exit(130)
    except ClickException as exc:  # usage mistakes: click's own one-line message
        exc.show()
        sys.exit(exc.exit_code)
    except Exception as exc:  # the last line of defence against tracebacks
        if os.environ.get("SAMIZDAT_DEBUG"):
            raise
        typer.echo(f"error: unexpected {type(exc).__name__}: {exc} (SAMIZDAT_DEBUG=1 shows details)", err=True)
        sys.exit(1)
    sys.exit(code if isinstance(code, int) else 0)

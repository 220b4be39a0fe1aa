"""The ``samizdat`` command line: options in, :mod:`samizdat.services` called, text or JSON out.

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
from typing import Any

import typer

from samizdat import __version__
from samizdat.cli import channels, keyexport, netcheck, passphrases, peers, photos, reading, sync, web
from samizdat.cli.common import (
    JsonOption,
    check_proxies,
    configured,
    emit,
    home,
    node_keys,
    qr_text,
    run,
    state,
    unlocked_keys,
    with_node,
)
from samizdat.cli.status import status_text
from samizdat.config import check_networks, check_store_url, load_config, load_identity
from samizdat.core import nip19
from samizdat.core.display import ShownFormatter, neutralize
from samizdat.errors import SamizdatError, UsageError
from samizdat.services import hardening, keyring, killcord
from samizdat.services import relays as relay_lists
from samizdat.services import status as node_status
from samizdat.services.context import Context

log = logging.getLogger("samizdat.serve")


def _readable_argument_types() -> None:
    """typer shows a variadic argument's type as ``<list[Path]>`` whatever its metavar: show ``<path>...``, the
    way it shows a repeatable option; and a flag as taking a ``<bool>``, which it does not: show nothing."""
    from typer.core import TyperArgument, TyperOption

    shown = TyperArgument.display_type_rich

    def display_type_rich(self: TyperArgument, ctx: Any) -> str | None:
        label = shown(self, ctx)
        if label and label.startswith("<list[") and label.endswith("]>"):
            return f"<{label[6:-2].lower()}>..."
        return label

    TyperArgument.display_type_rich = display_type_rich  # type: ignore[method-assign,assignment]
    option_shown = TyperOption.display_type_rich

    def option_type_rich(self: TyperOption, ctx: Any) -> str | None:
        return None if self.is_flag and not self.count else option_shown(self, ctx)

    TyperOption.display_type_rich = option_type_rich  # type: ignore[method-assign]


_readable_argument_types()

app = typer.Typer(
    name="samizdat",
    help="Channels that keep talking when the network is blocked or switched off.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
keys_app = typer.Typer(help="Show this node's identity, or export its key encrypted.", no_args_is_help=True)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"samizdat {__version__}")
        raise typer.Exit()


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
        metavar="TRANSPORT",
        help="A transport to fall back on when a relay is blocked, or RELAY=TRANSPORT for one relay (repeatable).",
    ),
    passphrase_fd: int | None = typer.Option(
        None, "--passphrase-fd", metavar="N", min=0, help="Read the passphrase from file descriptor N, not a terminal."
    ),
    version: bool = typer.Option(
        False, "--version", callback=_version, is_eager=True, help="Print the version and exit."
    ),
) -> None:
    state.home = home_dir
    state.proxy = proxy
    state.via = tuple(via)
    state.passphrase_fd = passphrase_fd
    state.passphrase_lines, state.passphrases_taken, state.keys = None, 0, None
    state.switch_checked = False
    handler = logging.StreamHandler()
    handler.setFormatter(ShownFormatter("%(asctime)s %(name)s: %(message)s"))
    logging.basicConfig(level=logging.INFO if verbose else logging.WARNING, handlers=[handler])


@app.command()
def init(
    no_passphrase: bool = typer.Option(
        False, "--no-passphrase", help="Keep the data unencrypted: only for a hub with no private state."
    ),
    import_key: str | None = typer.Option(
        None, "--import-key", metavar="NCRYPTSEC", help="Use this password-encrypted key (NIP-49) as the identity."
    ),
    as_json: bool = JsonOption,
) -> None:
    """Create the data directory, encrypted, with a new identity (does nothing if it exists)."""
    path = home()
    secret = None
    if import_key is not None:
        if keyring.kind(path) != "new":
            raise UsageError(f"{path} is set up already: --import-key makes a new node only; nothing changed")
        secret = keyexport.import_key(import_key)
    data = passphrases.init_node(path, plain=no_passphrase, secret=secret)
    verb = "Created" if data["created"] else "Already set up:"
    how = "encrypted" if data["encrypted"] else "NOT encrypted"
    emit(data, as_json, f"{verb} {data['home']} ({how})\nYour identity: {data['npub']}")


app.add_typer(keys_app, name="keys")


@keys_app.command("show")
def keys_show(as_json: bool = JsonOption, qr: bool = typer.Option(True, help="Draw the npub as a QR code.")) -> None:
    """Print this node's public identity (npub) and its QR code. The secret key never leaves the node."""
    key = load_identity(home(), node_keys())
    npub = nip19.npub_encode(key.public_key_hex)
    emit({"npub": npub, "pubkey": key.public_key_hex}, as_json, lambda d: (qr_text(npub) if qr else "") + npub)


@app.command()
def relays(
    write: list[str] = typer.Option([], "--write", metavar="URL", help="Add a relay you publish to (repeatable)."),
    read: list[str] = typer.Option([], "--read", metavar="URL", help="Add a relay you read from (repeatable)."),
    remove: list[str] = typer.Option([], "--remove", metavar="URL", help="Drop a relay from both lists."),
    as_json: bool = JsonOption,
) -> None:
    """Show or change your NIP-65 relay list: every post you make also goes to your write relays."""

    async def action(ctx: Context) -> dict[str, object]:
        current = await relay_lists.change(ctx, write=write, read=read, remove=remove)
        return {"read": list(current.read), "write": list(current.write)}

    data = run(with_node(action))
    emit(
        data,
        as_json,
        lambda d: (
            "Write relays: " + (", ".join(d["write"]) or "none") + "\nRead relays: " + (", ".join(d["read"]) or "none")
        ),
    )


@app.command()
def serve(
    host: str | None = typer.Option(None, help="Address to listen on (default 127.0.0.1; 0.0.0.0 for a hub)."),
    port: int | None = typer.Option(None, help="Port for the relay and the web app (default 4848)."),
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
        None, "--carry-mb", min=0, metavar="MB", help="Megabytes kept for channels you do not follow (default 256)."
    ),
    tls_cert: Path | None = typer.Option(
        None, "--tls-cert", metavar="FILE", help="Serve HTTPS/WSS with this certificate chain (PEM; [web] tls_cert)."
    ),
    tls_key: Path | None = typer.Option(
        None, "--tls-key", metavar="FILE", help="The certificate's private key (PEM; [web] tls_key)."
    ),
    store: str | None = typer.Option(
        None,
        "--store",
        metavar="URL",
        help="Keep the events in PostgreSQL (postgresql://user:password@host/db) instead of events.sqlite.",
    ),
    workers: int | None = typer.Option(
        None, "--workers", min=1, metavar="N", help="Relay processes on the port, up to one per core (default 1)."
    ),
    bus: str | None = typer.Option(
        None, "--bus", metavar="URL", help="nats://[user:password@]host:port between relays sharing the store."
    ),
    trusted_proxy: list[str] | None = typer.Option(
        None,
        "--trusted-proxy",
        metavar="CIDR",
        help="A load balancer that sends the PROXY protocol (repeatable; [relay] trusted_proxies).",
    ),
    kill_cord: Path | None = typer.Option(
        None,
        "--kill-cord",
        metavar="PATH",
        help="Lock the node (or wipe it: [safety] kill_cord_action) when PATH goes, e.g. a USB stick on a lanyard.",
    ),
) -> None:
    """Run the node: relay and web app on one port, LAN peers, outbox delivery, background sync."""
    path = home()
    if (lan or hub) and host is None:
        host = "0.0.0.0"
    store_url = None if store is None else check_store_url(store, "--store")
    config = configured(load_config(path)).with_overrides(
        host=host,
        port=port,
        mdns=mdns,
        carry_mb=carry_mb,
        tls_cert=str(tls_cert) if tls_cert else None,
        tls_key=str(tls_key) if tls_key else None,
        store_url=store_url,
        workers=workers,
        bus=bus,
        trusted_proxies=check_networks(trusted_proxy, "--trusted-proxy") if trusted_proxy else None,
        kill_cord=str(kill_cord.absolute()) if kill_cord else None,
    )
    # Before the passphrase is asked: a cord left unplugged must not silently switch the protection off.
    killcord.check(killcord.guard(config, encrypted=False))
    secure = bool(config.tls_cert or config.tls_key)
    if secure and config.trusted_proxies:  # the PROXY header would come before the TLS handshake
        raise UsageError("the relay's own TLS cannot be combined with trusted proxies: terminate TLS at the proxy")
    if config.store_url:
        typer.echo("warning: the events are kept in PostgreSQL, where Samizdat's encryption at rest does not apply"
                   " (docs/scaling.md)", err=True)  # fmt: skip
    from samizdat import workers as cluster  # the serving parts: see Node.serve
    from samizdat.mesh.peers import MeshOptions
    from samizdat.node import Node

    bus_options = cluster.BusOptions(config.bus, config.bus_creds or None)
    on_lan = not _is_loopback(config.host)
    mesh = MeshOptions(
        discover=on_lan and config.mdns, announce=on_lan and config.mdns, hub=hub, quiet_for=config.lan_quiet_for
    )

    def ready(bound_host: str, bound_port: int) -> None:
        shown = "127.0.0.1" if bound_host in ("0.0.0.0", "::", "") else bound_host
        where = f"[{shown}]:{bound_port}" if ":" in shown else f"{shown}:{bound_port}"
        lan_note = "" if shown == bound_host else " (from other devices: this machine's LAN address)"
        ws, web_scheme = ("wss", "https") if secure else ("ws", "http")
        typer.echo(f"Samizdat relay listening on {ws}://{where}", err=True)
        typer.echo(f"Web app: {web_scheme}://{where}/{lan_note}", err=True)
        typer.echo("Ctrl-C stops", err=True)

    keys = unlocked_keys(path)  # asked once, before anything starts; kept in this process's memory only
    stop: list[str] = []  # why the node stops, when a signal said why
    guard = killcord.guard(config, encrypted=keys is not None)

    def tripped(action: str, why: str) -> None:  # the kill cord's thread: the same stop as `samizdat lock`/`wipe`
        stop.append(why)
        if action == "wipe":
            log.warning("the kill cord was pulled: wiping this node")
            try:
                keyring.erase(path)  # at once, from this thread, whatever the event loop is busy with
            finally:
                os.kill(os.getpid(), keyring.WIPE_SIGNAL)
        else:
            log.warning("%s: locking this node", _TRIPPED.get(why, "the kill cord's watcher failed"))
            os.kill(os.getpid(), keyring.LOCK_SIGNAL)

    async def main() -> None:
        # SIGTERM (systemd, `kill`, `timeout`) stops the node as cleanly as Ctrl-C does. `samizdat lock` sends
        # LOCK_SIGNAL: the same stop, said so. WIPE_SIGNAL erases the key slots at once, then stops and deletes.
        task = asyncio.current_task()
        assert task is not None
        loop = asyncio.get_running_loop()
        loop.add_signal_handler(signal.SIGTERM, task.cancel)

        def lock() -> None:
            stop.append("locked")
            task.cancel()

        def wipe() -> None:
            stop.append("wiped")
            try:
                keyring.erase(path)
            finally:
                task.cancel()

        loop.add_signal_handler(keyring.LOCK_SIGNAL, lock)
        loop.add_signal_handler(keyring.WIPE_SIGNAL, wipe)
        unwatch = killcord.start(guard, tripped)  # the parent's, with --workers: it stops the workers
        try:
            decoy = keys.decoy if keys else None  # the decoy store, kept in step too (services/spare.py)
            if config.workers > 1:  # a parent and its workers (samizdat/workers.py)
                await cluster.serve(path, config, config.workers, keys=keys.node if keys else None, decoy=decoy,
                                    mesh=mesh, bus=bus_options, ready=ready)  # fmt: skip
                return
            node = await Node.open(path, config, keys=keys.node if keys else None)
            try:
                await check_proxies(node.ctx.routing)
                one = await cluster.alone(path, bus_options) if config.bus else None
                try:
                    await node.serve(config.host, config.port, ready=ready, mesh=mesh, wipe=wipe, decoy=decoy,
                                     cluster=one)  # fmt: skip
                finally:
                    if one is not None:
                        await one.bus.close()
            finally:
                await node.close()
        finally:
            unwatch()
            if "wiped" in stop:
                keyring.delete(path)

    try:
        run(main())
    except (KeyboardInterrupt, asyncio.CancelledError):
        why = next((f" ({_TRIPPED[w]})" for w in stop if w in _TRIPPED), "")
        if "wiped" in stop:
            typer.echo(f"wiped{why}: the key slots were erased and {path} deleted", err=True)
        elif "locked" in stop:
            typer.echo(f"locked{why}: the keys are dropped, the stores closed; stopped", err=True)
        else:
            typer.echo("stopped", err=True)


#: Why a serve locked or wiped itself, said when it stops (services/killcord.py).
_TRIPPED = {"cord": "the kill cord was pulled", "sleep": "the machine woke from sleep"}


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


@app.command()
def status(
    as_json: bool = JsonOption,
    verbose: bool = typer.Option(False, "--verbose", "-v", help="Also list every post still waiting or failed."),
) -> None:
    """What this node holds, what it still has to deliver where, and how syncing went."""

    async def collect(ctx: Context) -> dict[str, object]:
        return await node_status.document(ctx, detail=True)

    data = run(with_node(collect))
    emit(data, as_json, lambda d: status_text(d, verbose=verbose))


keyexport.register(keys_app)
channels.register(app)
peers.register(app)
reading.register(app)
sync.register(app)
netcheck.register(app)
web.register(app)
passphrases.register(app)
photos.register(app)


def error_sentence(exc: BaseException) -> str:
    """One style for every error: lower case first word (not an acronym such as NIP-65), no final full stop;
    neutralised (core/display.py): an error may quote a file's name, a link or a peer's words, and an escape
    sequence in them would rewrite the terminal."""
    text = neutralize(str(exc)).strip() or type(exc).__name__
    if len(text) > 1 and text[0].isupper() and not text[1].isupper() and not text[1].isdigit():
        text = text[0].lower() + text[1:]
    return text[:-1] if text.endswith(".") and not text.endswith("..") else text


def main() -> None:
    """Entry point: run the app, turning every expected error into one sentence and an exit code."""
    from typer._click.exceptions import ClickException

    hardening.harden()  # before any command can unlock a key: no core dump, no /proc/PID/mem for others
    hardening.hide_arguments()  # `ps` shows other accounts no argument: not the channel, not the post's text
    try:
        code = app(standalone_mode=False)
    except SamizdatError as exc:
        typer.echo(f"error: {error_sentence(exc)}", err=True)
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
        shown = neutralize(str(exc))
        typer.echo(f"error: unexpected {type(exc).__name__}: {shown} (SAMIZDAT_DEBUG=1 shows details)", err=True)
        sys.exit(1)
    sys.exit(code if isinstance(code, int) else 0)

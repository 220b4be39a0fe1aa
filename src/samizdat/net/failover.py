"""Failover between transports: reach a relay through whatever works on this network, and remember it.

Theory of operation: :class:`Routing` says which transports may carry a relay's connection (from the
configuration and the command line, see ``docs/blocking.md``). :func:`connect` asks the route memory in
``local.sqlite`` for what happened on this network before, puts the candidates in order
(:func:`samizdat.core.routes.order_routes`: what worked first, what failed last) and races them *staggered*:
the first starts at once, the next when the first has not connected after ``stagger`` seconds (or failed), and
so on, like Happy Eyeballs. The first connection to open wins; the others are cancelled. Every definite outcome is
recorded, so the next connection starts with the route that works, and a blocked route backs off. A route a sync
found stalling (:func:`samizdat.core.routes.last_resort`) joins only once every route before it has failed: after
a stagger it would open first, win, and stall again.

A connection that opens is not a route that works: the client it returns names its route (``client.route``,
``client.network``), and the sync that uses it tells the route memory how the transfer went
(:func:`remember_stall`, :func:`remember_transfer`; ``connect(..., avoid=...)`` leaves a route out of one try).

Failover between *relays* (a channel's mirrors) is the outbox's and background sync's business: they treat each
mirror on its own, so one blocked mirror never holds up another.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import ssl as ssl_module
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from samizdat.core.routes import after_attempt, after_stall, after_transfer, last_resort, order_routes
from samizdat.errors import BrokenTransport, UsageError
from samizdat.net.client import RelayClient, relay_address
from samizdat.net.transports import DEFAULT_TOR, parse_transport, redacted
from samizdat.store.local import LocalState

log = logging.getLogger(__name__)

STAGGER = 2.0  # seconds before the next route joins the race
#: Each route is bounded by its own time limit, which ends with the whole ``timeout``: its error says where it
#: stalled. This is only a backstop on top of that.
BACKSTOP = 1.0


def _normal(url: str) -> str:
    return url.rstrip("/")


@dataclass(frozen=True)
class Routing:
    """Which transports may carry which relay's connections.

    * ``proxy``: if set, every relay goes through it and nothing else (``[sync] proxy``, ``SAMIZDAT_PROXY``,
      ``--proxy``): for a user who must never connect directly. It wins over everything below, a relay's own
      routes included, so no configured ``direct`` (or other proxy) ever carries a connection;
    * ``fallback``: tried after ``direct`` when it fails (``[sync] fallback``, ``--via``);
    * ``per_relay``: a relay's own list (``[relays."wss://..."] via = [...]``), which wins over the fallbacks;
    * ``.onion`` relays go through ``tor`` (``[transports] tor``) unless a proxy that resolves names is set.
    """

    proxy: str = ""
    fallback: tuple[str, ...] = ()
    tor: str = DEFAULT_TOR
    per_relay: Mapping[str, tuple[str, ...]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for spec in (self.proxy or "direct", *self.fallback, *(s for v in self.per_relay.values() for s in v)):
            parse_transport(spec, tor=self.tor)  # raises UsageError for a bad one
        parse_transport(self.tor)

    def candidates(self, url: str) -> list[str]:
        if self.proxy:  # never anything else: not a relay's own routes, not Tor for an onion
            return [self.proxy]
        own = self.per_relay.get(_normal(url))
        if own:
            return list(own)
        host = relay_address(url)[0]
        if host.endswith(".onion"):
            remote = [s for s in self.fallback if parse_transport(s, tor=self.tor).remote_dns]
            return remote or ["tor"]
        return list(dict.fromkeys(["direct", *self.fallback]))

    @classmethod
    def from_config(
        cls, data: Mapping[str, Any], *, proxy: str = "", via: Sequence[str] = (), where: str = "config.toml"
    ) -> Routing:
        """From the configuration file's tables (``[sync]``, ``[transports]``, ``[relays."URL"]``) and the
        command line's ``--proxy`` (``proxy``, wins) and ``--via`` (``via``: a transport is added in front of the
        fallbacks; ``RELAY=TRANSPORT`` is put in front of that relay's own routes)."""
        sync = data.get("sync", {}) if isinstance(data.get("sync", {}), dict) else {}
        transports = data.get("transports", {}) if isinstance(data.get("transports", {}), dict) else {}
        fallback = sync.get("fallback", [])
        if not isinstance(fallback, list) or not all(isinstance(s, str) for s in fallback):
            raise UsageError(f'{where}: sync.fallback must be a list of transports such as "socks5h://HOST:PORT"')
        tor = transports.get("tor", DEFAULT_TOR)
        if not isinstance(tor, str):
            raise UsageError(f'{where}: transports.tor must be a string such as "socks5h://127.0.0.1:9050"')
        per_relay: dict[str, tuple[str, ...]] = {}
        relays = data.get("relays", {})
        if not isinstance(relays, dict):
            raise UsageError(f"{where}: [relays] must hold one table per relay URL")
        for url, table in relays.items():
            if not isinstance(table, dict) or not str(url).startswith(("ws://", "wss://")):
                raise UsageError(f'{where}: [relays."{url}"] must be a table for a ws:// or wss:// URL')
            routes = table.get("via", [])
            if isinstance(routes, str):
                routes = [routes]
            if "proxy" in table:
                routes = [table["proxy"], *routes]
            if not isinstance(routes, list) or not all(isinstance(s, str) for s in routes):
                raise UsageError(f'{where}: relays."{url}".via must be a list of transports')
            per_relay[_normal(str(url))] = tuple(routes)
        # --via RELAY=TRANSPORT (repeatable) sets one relay's routes from the command line, ahead of the file's.
        fallbacks: list[str] = []
        command_line: dict[str, list[str]] = {}
        for entry in via:
            url, equals, spec = entry.partition("=")
            if equals and url.startswith(("ws://", "wss://")):
                command_line.setdefault(_normal(url), []).append(spec)
            else:
                fallbacks.append(entry)
        for url, specs in command_line.items():
            per_relay[url] = tuple(dict.fromkeys([*specs, *per_relay.get(url, ())]))
        global_proxy = proxy or str(sync.get("proxy", "") or "")
        try:
            return cls(global_proxy, tuple([*fallbacks, *fallback]), tor, per_relay)
        except UsageError as exc:
            raise UsageError(f"{where}: {exc}") from exc


async def connect(
    url: str,
    routing: Routing,
    memory: LocalState | None = None,
    *,
    network: str = "none",
    clock: Callable[[], float],
    timeout: float = 15.0,
    stagger: float = STAGGER,
    ssl: ssl_module.SSLContext | None = None,
    avoid: Collection[str] = (),
) -> RelayClient:
    """A connection to ``url`` through the first route that works (see the module), not through the routes in
    ``avoid``; raise :class:`BrokenTransport` naming every route's failure when none does within ``timeout`` (or
    when ``avoid`` leaves none)."""
    records = memory.routes(url, network) if memory is not None else {}
    now = clock()
    order = order_routes([spec for spec in routing.candidates(url) if spec not in avoid], records, now)
    if not order:
        raise BrokenTransport(f"cannot connect to {url}: no other route to try")
    held = {spec for spec in order if last_resort(records.get(spec), now)}

    def record(spec: str, ok: bool, error: str = "") -> None:
        if memory is not None:
            memory.record_route(url, network, after_attempt(records.get(spec), spec, ok=ok, now=clock(), error=error))

    started: dict[asyncio.Task[RelayClient], str] = {}
    errors: dict[str, str] = {}
    winner: RelayClient | None = None
    pending: set[asyncio.Task[RelayClient]] = set()
    extras: list[RelayClient] = []

    def settle(done: set[asyncio.Task[RelayClient]]) -> RelayClient | None:
        found = None
        for task in done:
            spec = started[task]
            error = task.exception()
            if error is None:
                if found is None:
                    found = task.result()
                    found.route = spec
                    found.network = network
                    record(spec, True)
                else:  # two opened at once: keep one
                    extras.append(task.result())
            else:
                errors[spec] = _reason(error, url)
                record(spec, False, errors[spec])
        return found

    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    try:
        async with asyncio.timeout_at(deadline + BACKSTOP):
            for i, spec in enumerate(order):
                transport = parse_transport(spec, tor=routing.tor)
                left = max(0.1, deadline - loop.time())
                task = loop.create_task(
                    RelayClient.connect(url, transport=transport, timeout=left, ssl=ssl), name=f"route {redacted(spec)}"
                )
                started[task] = spec
                pending.add(task)
                # Before a route held to the last, wait for every route started so far to fail.
                last = i == len(order) - 1 or order[i + 1] in held
                while pending and winner is None:
                    done, pending = await asyncio.wait(
                        pending, timeout=None if last else stagger, return_when=asyncio.FIRST_COMPLETED
                    )
                    if not done:
                        break  # the stagger passed: let the next route join
                    winner = settle(done)
                if winner is not None:
                    break
    except TimeoutError:
        for task in pending:
            errors[started[task]] = f"no connection within {timeout:.0f} s"
            record(started[task], False, "timed out")
    finally:
        if winner is not None:
            # Routes that started before the winner and still had not connected (a stagger or more): slow or
            # blackholed here. Remembered as failures, so they back off.
            for task in pending:
                record(started[task], False, "no connection while another route connected")
        for task in pending:
            task.cancel()
        for task in pending:
            with contextlib.suppress(BaseException):
                extras.append(await task)
        for client in extras:
            await client.close()
    if winner is not None:
        log.debug("%s reached (routes in order: %s)", url, ", ".join(order))
        return winner
    tried = "; ".join(f"{redacted(spec)}: {errors.get(spec, 'not tried')}" for spec in order)
    hint = " Is Tor running?" if relay_address(url)[0].endswith(".onion") else ""
    routes = "" if len(order) == 1 else " by any route"
    raise BrokenTransport(f"cannot connect to {url}{routes} ({tried}).{hint}")


def remember_stall(memory: LocalState, client: RelayClient, cls: str, reason: str, *, now: float) -> None:
    """Note that ``client``'s route stopped carrying data (``cls``: ``data.stall`` or ``data.reset``) while another
    route carried the same relay's sync (:func:`samizdat.core.routes.after_stall`). Nothing for a connection
    failover did not open."""
    if client.route is None or client.network is None:
        return
    record = memory.routes(client.url, client.network).get(client.route)
    memory.record_route(client.url, client.network, after_stall(record, client.route, cls, reason, now=now))
    log.info("%s: the route %s stopped carrying data (%s); other routes go first", client.url,
             redacted(client.route), cls)  # fmt: skip


def remember_transfer(memory: LocalState, client: RelayClient, *, now: float) -> None:
    """Note that a sync over ``client``'s route ended well: enough data forgets the stalls seen on it
    (:func:`samizdat.core.routes.after_transfer`)."""
    if client.route is None or client.network is None:
        return
    record = memory.routes(client.url, client.network).get(client.route)
    decided = after_transfer(record, client.route, client.bytes_in + client.bytes_out, now=now)
    if decided is not None:
        memory.record_route(client.url, client.network, decided)


def _reason(error: BaseException, url: str) -> str:
    """The innermost useful words of a failed connection (not the chain of "cannot connect to ..." wrappers); for
    a time-out, what the transport said about where it stalled."""
    cause = error.__cause__ if isinstance(error, BrokenTransport) and error.__cause__ is not None else error
    if isinstance(cause, TimeoutError) and not str(cause):
        return str(error).removeprefix(f"cannot connect to {url}: ") or "timed out"
    return str(cause) or type(cause).__name__

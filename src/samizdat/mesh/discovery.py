"""Finding other nodes on the local network with mDNS / DNS-SD (service ``_samizdat._tcp``), with no internet,
no DNS server and no configuration.

Theory of operation. A node that listens on the LAN registers one service instance, ``samizdat-<id>``, whose TXT
record carries a random instance id (new at every start and, but for a hub, on every network change, so it says
nothing lasting about the node), the protocol version and whether the node is a hub (a hub also gives its name, to be
recognisable on a building's Wi-Fi). It browses for the same service type and reports every other instance it
resolves as a ``ws://address:port`` URL.

Anyone on the LAN can announce anything: what is taken from an announcement, and which announcements are kept
and for how long, is decided by :mod:`samizdat.mesh.announcements` (pure). This module does the I/O it asks for:
it resolves services, tells it every pointer record it hears (whoever asked), reports what it keeps and loses
(each usable address of a kept service, oldest first: anyone can add an address in any host's name, so none is
taken as the only one), and asks who is there when it says so.

Networks change under a node: a laptop carried from one building to the next, a Wi-Fi that drops and returns.
A watcher polls the interfaces (addresses, and the kernel's carrier-change counters, so a cable or veth that was
unplugged and plugged back is noticed however fast) and, on any change, restarts Zeroconf: the node announces
itself again on its new network and asks at once who is there, instead of waiting for the browser's next query,
which can be an hour away. Kept services are then checked again against the new networks.

It announces itself under a new instance id then (``new_instance``): a laptop or phone carried from one Wi-Fi to
the next is a courier, and phones change their MAC address from one network to the next for this reason. An id
kept across networks would undo that: a device listening on both Wi-Fis (or their logs put side by side) would
see one node, met at the flat and then at the café. Neighbours see a new node; the links are made again. A hub
keeps its id: it announces its name, which says as much, and it would lose the places its neighbours keep for it
(a newcomer waits for room, :mod:`samizdat.mesh.room`).
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import logging
import math
import secrets
import socket
from collections.abc import Callable, Sequence
from pathlib import Path

import ifaddr
from zeroconf import InterfaceChoice, IPVersion, RecordUpdate, RecordUpdateListener, ServiceStateChange, Zeroconf
from zeroconf._dns import DNSPointer, DNSQuestion  # re-exported by zeroconf, but without __all__ for mypy
from zeroconf._protocol.outgoing import DNSOutgoing
from zeroconf.asyncio import AsyncServiceBrowser, AsyncServiceInfo, AsyncZeroconf
from zeroconf.const import _CLASS_IN, _FLAGS_QR_QUERY, _TYPE_PTR

from samizdat.mesh.announcements import NAME_LIMIT, Roster, Sighting, parse_service, parse_sightings

__all__ = ["SERVICE_TYPE", "Discovery", "Roster", "Sighting", "lan_addresses", "local_networks", "parse_service"]

log = logging.getLogger(__name__)

SERVICE_TYPE = "_samizdat._tcp.local."
PROTOCOL_VERSION = "1"
RESOLVE_TIMEOUT_MS = 3000
WATCH_INTERVAL = 1.0
SAY_EVERY = 60.0  # seconds between two log lines saying a peer lost its place to a newcomer


# -- this machine's networks --------------------------------------------------------------------------------------


def local_networks() -> list[ipaddress.IPv4Interface]:
    """This machine's IPv4 interfaces (address and prefix), loopback included."""
    found = []
    for adapter in ifaddr.get_adapters():
        for ip in adapter.ips:
            if ip.is_IPv4 and isinstance(ip.ip, str):
                with contextlib.suppress(ValueError):
                    found.append(ipaddress.IPv4Interface(f"{ip.ip}/{ip.network_prefix}"))
    return found


def lan_addresses(host: str) -> list[str]:
    """The IPv4 addresses to announce for a node listening on ``host``: that address, or every non-loopback,
    non-link-local IPv4 address of this machine when it listens on all of them."""
    if host not in ("0.0.0.0", "", "::"):
        return [host]
    return sorted(
        {str(i.ip) for i in local_networks() if not (i.ip.is_loopback or i.ip.is_link_local or i.ip.is_unspecified)}
    )


def network_signature() -> tuple[object, ...]:
    """Something that changes whenever this machine's network does: addresses, and link carrier changes."""
    addresses = sorted(
        (adapter.nice_name, str(ip.ip)) for adapter in ifaddr.get_adapters() for ip in adapter.ips if ip.is_IPv4
    )
    carriers = []
    with contextlib.suppress(OSError):
        for link in sorted(Path("/sys/class/net").iterdir()):
            with contextlib.suppress(OSError):
                carriers.append((link.name, (link / "carrier_changes").read_text().strip()))
    return (tuple(addresses), tuple(carriers))


# -- the I/O ------------------------------------------------------------------------------------------------------


class _Hearing(RecordUpdateListener):
    """Tells the discovery about every pointer to a ``_samizdat._tcp`` service that arrives, whoever asked."""

    def __init__(self, heard: Callable[[str], None]) -> None:
        self._heard = heard

    def async_update_records(self, zc: Zeroconf, now: float, records: list[RecordUpdate]) -> None:
        for update in records:
            record = update.new
            if (
                isinstance(record, DNSPointer)
                and record.type == _TYPE_PTR
                and record.name.lower() == SERVICE_TYPE
                and not record.is_expired(now)
            ):
                self._heard(record.alias)


class Discovery:
    """Announce this node (if ``announce``) and report the others. Run with :meth:`run` until cancelled."""

    def __init__(
        self,
        instance: str,
        port: int,
        *,
        host: str = "0.0.0.0",
        announce: bool = True,
        hub: bool = False,
        name: str = "",
        on_found: Callable[[Sighting], None],
        on_lost: Callable[[str], None] = lambda instance: None,
        watch_interval: float = WATCH_INTERVAL,
        roster: Roster | None = None,
        replaceable: Callable[[], Sequence[str]] = lambda: (),
        new_instance: Callable[[], str] = lambda: secrets.token_hex(8),
    ) -> None:
        #: The id announced now: a new one (``new_instance``) on every network change, unless a hub (see the module).
        self.instance = instance
        self.new_instance = new_instance
        self.port = port
        self.host = host
        self.announce = announce
        self.hub = hub
        self.name = name if hub else ""
        self.on_found = on_found
        self.on_lost = on_lost
        self.watch_interval = watch_interval
        self.roster = roster or Roster(replaceable=replaceable)
        self.restarts = 0
        self._zc: AsyncZeroconf | None = None
        self._browser: AsyncServiceBrowser | None = None
        self._own_name = self.service_name.lower()
        self._hearing = _Hearing(self._heard)
        self._resolving: set[asyncio.Task[None]] = set()
        self._said = -math.inf  # when a peer was last said to have lost its place (SAY_EVERY)

    @property
    def service_name(self) -> str:
        return f"samizdat-{self.instance[:12]}.{SERVICE_TYPE}"

    def _now(self) -> float:
        return asyncio.get_running_loop().time()

    async def run(self) -> None:
        signature = network_signature()
        await self._start()
        try:
            while True:
                await asyncio.sleep(self.watch_interval)
                self._tick()
                now = network_signature()
                if now != signature:
                    signature = now
                    log.info("the network changed: announcing again and looking for peers")
                    await self._stop()
                    if not self.hub:  # a hub says its name anyway: a new id would only cost it its places
                        self.instance = self.new_instance()
                        self._own_name = self.service_name.lower()
                    self.roster.recheck(self._now())
                    await self._start()
                    self.restarts += 1
        finally:
            await self._stop()

    async def refresh(self) -> None:
        """Announce again and ask who is there now."""
        await self._stop()
        await self._start()

    async def _start(self) -> None:
        self._zc = AsyncZeroconf(interfaces=InterfaceChoice.All, ip_version=IPVersion.V4Only)
        if self.announce:
            addresses = lan_addresses(self.host)
            if addresses:
                info = AsyncServiceInfo(
                    SERVICE_TYPE,
                    self.service_name,
                    addresses=[socket.inet_aton(a) for a in addresses],
                    port=self.port,
                    properties={
                        "id": self.instance,
                        "v": PROTOCOL_VERSION,
                        "hub": "1" if self.hub else "0",
                        "name": self.name[:NAME_LIMIT],
                    },
                    server=f"samizdat-{self.instance[:12]}.local.",
                )
                try:
                    await self._zc.async_register_service(info, allow_name_change=True)
                    self._own_name = info.name.lower()
                except Exception as exc:  # noqa: BLE001 - mDNS trouble must not stop the node
                    log.warning("could not announce this node on the LAN: %s", exc)
        self._zc.zeroconf.async_add_listener(self._hearing, None)
        self._browser = AsyncServiceBrowser(self._zc.zeroconf, [SERVICE_TYPE], handlers=[self._changed])

    async def _stop(self) -> None:
        for task in list(self._resolving):
            task.cancel()
        zc, browser = self._zc, self._browser
        self._zc = self._browser = None
        with contextlib.suppress(Exception):
            if browser is not None:
                await browser.async_cancel()
        with contextlib.suppress(Exception):
            if zc is not None:
                zc.zeroconf.async_remove_listener(self._hearing)
        with contextlib.suppress(Exception):
            if zc is not None:
                await zc.async_unregister_all_services()
        with contextlib.suppress(Exception):
            if zc is not None:
                await zc.async_close()

    def _tick(self) -> None:
        tick = self.roster.tick(self._now())
        for instance in tick.lost:
            log.info("peer %s stopped announcing itself", instance)
            self.on_lost(instance)
        if tick.ask and self._zc is not None:
            question = DNSOutgoing(_FLAGS_QR_QUERY)
            question.add_question(DNSQuestion(SERVICE_TYPE, _TYPE_PTR, _CLASS_IN))
            self._zc.zeroconf.async_send(question)  # no known answers: everyone still there answers
        for name in tick.resolve:
            self._spawn_resolve(name)

    # Service names are kept in lower case: DNS names are, and "A" and "a" must not count as two services.

    def _heard(self, name: str) -> None:
        if name.lower() != self._own_name and self.roster.heard(name.lower(), self._now()):
            log.info("%s still answers after a goodbye in its name: someone on the LAN forges goodbyes", name)

    def _changed(self, zeroconf: Zeroconf, service_type: str, name: str, state_change: ServiceStateChange) -> None:
        name = name.lower()
        if name == self._own_name:
            return
        if state_change is ServiceStateChange.Removed:
            # Not believed at once: anyone can send a goodbye in any name (see announcements.Roster.goodbye).
            self.roster.goodbye(name, self._now())
        elif self.roster.wanted(name, self._now()):
            self._spawn_resolve(name)

    def _spawn_resolve(self, name: str) -> None:
        task = asyncio.get_running_loop().create_task(self._resolve(name))
        self._resolving.add(task)
        task.add_done_callback(self._resolving.discard)

    async def _resolve(self, name: str) -> None:
        try:
            zc = self._zc
            if zc is None:
                return
            info = AsyncServiceInfo(SERVICE_TYPE, name)
            try:
                if not await info.async_request(zc.zeroconf, RESOLVE_TIMEOUT_MS):
                    return
            except Exception as exc:  # noqa: BLE001 - a hostile record must not stop discovery
                log.info("could not resolve %s: %s", name, exc)
                return
            # Zeroconf lists the newest address first, and anyone can add one (or flush the real one) in any
            # host's name: oldest first, so the address a service was first heard at is its first one. Every
            # usable address is reported: one may be forged, and the Mesh links to each (announcements.Addresses).
            addresses = info.parsed_addresses(IPVersion.V4Only)[::-1]
            sightings = parse_sightings(info.properties, addresses, info.port, networks=local_networks())
            if sightings and sightings[0].instance == self.instance:
                sightings = []
            newcomer = name not in self.roster.kept
            found, lost = self.roster.resolved(name, sightings[0] if sightings else None, self._now())
            if found is not None and newcomer and lost and self._now() - self._said >= SAY_EVERY:
                self._said = self._now()  # at most once a minute: a device's made-up peers may churn
                log.info("peer %s brought nothing new for long: %s took its place", lost[0], found.url)
            for instance in lost:
                self.on_lost(instance)
            if found is not None:
                for sighting in sightings:
                    self.on_found(sighting)
            elif not sightings:
                log.debug("ignoring the announcement of %r: not a usable Samizdat node here", name)
        except asyncio.CancelledError:
            self.roster.resolving.discard(name)  # stopped (the network changed), not unusable
            raise
        finally:
            if name in self.roster.resolving:
                self.roster.unresolved(name, self._now())

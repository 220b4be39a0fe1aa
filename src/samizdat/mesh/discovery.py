"""Finding other nodes on the local network with mDNS / DNS-SD (service ``_samizdat._tcp``), with no internet,
no DNS server and no configuration.

Theory of operation. A node that listens on the LAN registers one service instance, ``samizdat-<id>``, whose TXT
record carries a random instance id (new at every start, so it says nothing lasting about the node), the protocol
version and whether the node is a hub (a hub also gives its name, to be recognisable on a building's Wi-Fi). It
browses for the same service type and reports every other instance it resolves as a ``ws://address:port`` URL.

Networks change under a node: a laptop carried from one building to the next, a Wi-Fi that drops and returns.
A watcher polls the interfaces (addresses, and the kernel's carrier-change counters, so a cable or veth that was
unplugged and plugged back is noticed however fast) and, on any change, restarts Zeroconf: the node announces
itself again on its new network and asks at once who is there, instead of waiting for the browser's next query,
which can be an hour away.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import logging
import socket
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import ifaddr
from zeroconf import InterfaceChoice, IPVersion, ServiceStateChange, Zeroconf
from zeroconf.asyncio import AsyncServiceBrowser, AsyncServiceInfo, AsyncZeroconf

log = logging.getLogger(__name__)

SERVICE_TYPE = "_samizdat._tcp.local."
PROTOCOL_VERSION = "1"
RESOLVE_TIMEOUT_MS = 3000
WATCH_INTERVAL = 1.0


@dataclass(frozen=True, slots=True)
class Sighting:
    """Another node heard on the LAN."""

    instance: str  # its random instance id
    url: str  # ws://address:port
    name: str  # a hub's name, else ''
    hub: bool


def lan_addresses(host: str) -> list[str]:
    """The IPv4 addresses to announce for a node listening on ``host``: that address, or every non-loopback,
    non-link-local IPv4 address of this machine when it listens on all of them."""
    if host not in ("0.0.0.0", "", "::"):
        return [host]
    found: list[str] = []
    for adapter in ifaddr.get_adapters():
        for ip in adapter.ips:
            if not isinstance(ip.ip, str):
                continue
            address = ipaddress.IPv4Address(ip.ip)
            if not (address.is_loopback or address.is_link_local or address.is_unspecified):
                found.append(ip.ip)
    return sorted(set(found))


def on_a_local_network(address: str) -> bool:
    """True if ``address`` is on one of this machine's IPv4 networks (a peer with several addresses is tried
    on the one we share)."""
    try:
        target = ipaddress.IPv4Address(address)
    except ValueError:
        return False
    for adapter in ifaddr.get_adapters():
        for ip in adapter.ips:
            if ip.is_IPv4 and isinstance(ip.ip, str):
                network = ipaddress.IPv4Network(f"{ip.ip}/{ip.network_prefix}", strict=False)
                if target in network and not network.is_loopback:
                    return True
    return False


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
    ) -> None:
        self.instance = instance
        self.port = port
        self.host = host
        self.announce = announce
        self.hub = hub
        self.name = name if hub else ""
        self.on_found = on_found
        self.on_lost = on_lost
        self.watch_interval = watch_interval
        self.restarts = 0
        self._zc: AsyncZeroconf | None = None
        self._browser: AsyncServiceBrowser | None = None
        self._names: dict[str, str] = {}  # service name -> instance id
        self._resolving: set[asyncio.Task[None]] = set()

    @property
    def service_name(self) -> str:
        return f"samizdat-{self.instance[:12]}.{SERVICE_TYPE}"

    async def run(self) -> None:
        signature = network_signature()
        await self._start()
        try:
            while True:
                await asyncio.sleep(self.watch_interval)
                now = network_signature()
                if now != signature:
                    signature = now
                    log.info("the network changed: announcing again and looking for peers")
                    await self._stop()
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
                        "name": self.name[:60],
                    },
                    server=f"samizdat-{self.instance[:12]}.local.",
                )
                try:
                    await self._zc.async_register_service(info, allow_name_change=True)
                except Exception as exc:  # noqa: BLE001 - mDNS trouble must not stop the node
                    log.warning("could not announce this node on the LAN: %s", exc)
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
                await zc.async_unregister_all_services()
        with contextlib.suppress(Exception):
            if zc is not None:
                await zc.async_close()

    def _changed(self, zeroconf: Zeroconf, service_type: str, name: str, state_change: ServiceStateChange) -> None:
        if state_change is ServiceStateChange.Removed:
            instance = self._names.pop(name, None)
            if instance:
                self.on_lost(instance)
            return
        task = asyncio.get_running_loop().create_task(self._resolve(service_type, name))
        self._resolving.add(task)
        task.add_done_callback(self._resolving.discard)

    async def _resolve(self, service_type: str, name: str) -> None:
        zc = self._zc
        if zc is None:
            return
        info = AsyncServiceInfo(service_type, name)
        try:
            if not await info.async_request(zc.zeroconf, RESOLVE_TIMEOUT_MS):
                return
        except Exception as exc:  # noqa: BLE001
            log.info("could not resolve %s: %s", name, exc)
            return
        addresses = sorted(info.parsed_addresses(IPVersion.V4Only), key=lambda a: not on_a_local_network(a))
        sighting = parse_service(info.properties, addresses, info.port)
        if sighting is None or sighting.instance == self.instance:
            return
        self._names[name] = sighting.instance
        self.on_found(sighting)


def parse_service(properties: dict[bytes, bytes | None], addresses: list[str], port: int | None) -> Sighting | None:
    """A sighting from a resolved service, or None if it is not a usable Samizdat node (anyone on the LAN can
    announce anything: the values are checked, and nothing is trusted beyond an address to try)."""

    def text(key: bytes, limit: int) -> str:
        value = properties.get(key) or b""
        return value[:limit].decode("utf-8", "replace")

    instance = text(b"id", 64)
    if not instance or not instance.isalnum() or not addresses or not port or not 0 < port < 65536:
        return None
    try:
        address = ipaddress.IPv4Address(addresses[0])
    except ValueError:
        return None
    name = "".join(ch for ch in text(b"name", 60) if ch.isprintable())
    return Sighting(instance, f"ws://{address}:{port}", name, text(b"hub", 1) == "1")

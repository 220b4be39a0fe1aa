"""A passive listener on the Wi-Fi: ``python lan_listener.py SECONDS ADDRESS NOT_ID``.

Browses ``_samizdat._tcp`` with Zeroconf, as any laptop on the network can, resolves every service it hears and
prints one JSON list of what each said (service name, host name, instance id, addresses). It stops once it has
heard a service at ``ADDRESS`` whose id is not ``NOT_ID`` ("-" for none: the first one at ``ADDRESS`` will do), or
after ``SECONDS``, whichever comes first. Sends nothing but mDNS questions.
"""

from __future__ import annotations

import json
import queue
import sys
import time
from typing import Any

from zeroconf import IPVersion, ServiceBrowser, ServiceStateChange, Zeroconf
from zeroconf import ServiceInfo as Info

SERVICE_TYPE = "_samizdat._tcp.local."
RESOLVE_MS = 3000
MAX_SERVICES = 200  # a bound on what one run looks at


def main(seconds: float, address: str, not_id: str) -> list[dict[str, Any]]:
    names: queue.Queue[str] = queue.Queue()

    def changed(zeroconf: Zeroconf, service_type: str, name: str, state_change: ServiceStateChange) -> None:
        if state_change is not ServiceStateChange.Removed:
            names.put(name)

    heard: list[dict[str, Any]] = []
    deadline = time.monotonic() + seconds
    zc = Zeroconf(ip_version=IPVersion.V4Only)
    try:
        browser = ServiceBrowser(zc, SERVICE_TYPE, handlers=[changed])
        try:
            while time.monotonic() < deadline and len(heard) < MAX_SERVICES:
                try:
                    name = names.get(timeout=max(0.05, min(1.0, deadline - time.monotonic())))
                except queue.Empty:
                    continue
                info = Info(SERVICE_TYPE, name)
                if not info.request(zc, RESOLVE_MS):
                    continue
                raw_id = info.properties.get(b"id") or b""
                said = {
                    "name": name,
                    "server": info.server,
                    "id": raw_id.decode(errors="replace"),
                    "addresses": info.parsed_addresses(IPVersion.V4Only),
                }
                heard.append(said)
                if address in said["addresses"] and said["id"] != not_id:
                    break
        finally:
            browser.cancel()
    finally:
        zc.close()
    return heard


if __name__ == "__main__":
    print(json.dumps(main(float(sys.argv[1]), sys.argv[2], sys.argv[3])))

"""The leak lab: a node whose only way out is a proxy, with a counter on every other packet it sends.

::

    client ns (10.77.1.2)                 proxy ns (10.77.1.1 | 10.77.2.1)          relays ns (10.77.2.2)
    the node: samizdat CLI and serve  ──  microsocks :1080, tor :9050          ──  samizdat serve on
    default route → "void0" (nowhere)     /etc/hosts names relay.lab.test           relay.lab.test:4848
    resolv.conf → 10.77.9.53 (the void)   no route anywhere else: Tor has no network

``relay.lab.test`` is known only on the proxy's side of the lab (its /etc/hosts): a node that resolves it itself
asks the resolver in its resolv.conf, and that query is counted. In the client namespace an nft ``output`` chain
lets loopback through (the node talking to itself), counts and lets through what goes to the proxy's ports, and
counts and drops everything else: DNS on UDP and TCP port 53 apart, then any other packet. The default route
leads into an interface that goes nowhere (one end of a veth pair whose other end is in the same namespace), so
that a packet meant for anywhere is routed and reaches the counters (without a route it would fail before them,
unseen). IPv6 is off in the lab, so the kernel sends nothing on its own.

Names: ``smzp<pid>c|p|r``; ``/etc/netns/<ns>/{hosts,resolv.conf}``. Everything is removed by :meth:`ProxyLab.close`
(and leftovers of dead runs by :func:`clean_leftovers`). Used by ``tests/e2e/test_proxy_leaks.py``.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

from samizdat.testing import passphrase_env

PROXY_IP = "10.77.1.1"
SOCKS = f"socks5h://{PROXY_IP}:1080"
TOR = f"socks5h://{PROXY_IP}:9050"
RELAY_IP = "10.77.2.2"
RELAY_NAME = "relay.lab.test"
RELAY_PORT = 4848
RELAY_URL = f"ws://{RELAY_NAME}:{RELAY_PORT}"
VOID_RESOLVER = "10.77.9.53"  # the client's resolver: on the dummy interface, so a query to it is counted
LEAK_COUNTERS = ("dns_udp", "dns_tcp", "other")

RULES = f"""
table inet smzleak {{
  counter proxy {{}}
  counter dns_udp {{}}
  counter dns_tcp {{}}
  counter other {{}}
  chain out {{
    type filter hook output priority filter; policy accept;
    oifname "lo" accept
    ip daddr {PROXY_IP} tcp dport {{ 1080, 9050 }} counter name "proxy" accept
    udp dport 53 counter name "dns_udp" drop
    tcp dport 53 counter name "dns_tcp" drop
    counter name "other" drop
  }}
}}
"""


def missing_requirements() -> str | None:
    """Why the lab cannot run here, or None."""
    if os.geteuid() != 0:
        return "the leak lab needs root (network namespaces)"
    for tool in ("ip", "nft", "microsocks", "tor"):
        if shutil.which(tool) is None:
            return f"{tool} is not installed (scripts/system-packages.sh installs scripts/apt/blocking.txt)"
    return None


def sh(
    *args: str, check: bool = True, timeout: float = 30, environment: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(args, capture_output=True, text=True, timeout=timeout, check=False, env=environment)
    if check and done.returncode != 0:
        raise RuntimeError(f"{' '.join(args)} failed: {done.stderr.strip()}")
    return done


def clean_leftovers() -> None:
    """Remove namespaces (and their files) of earlier runs whose process is gone."""
    for line in sh("ip", "netns", "list", check=False).stdout.splitlines():
        name = line.split()[0] if line.split() else ""
        match = re.fullmatch(r"smzp(\d+)[cpr]", name)
        if match and not Path(f"/proc/{match.group(1)}").exists():
            sh("ip", "netns", "del", name, check=False)
            shutil.rmtree(f"/etc/netns/{name}", ignore_errors=True)


def env(**extra: str) -> dict[str, str]:
    """A command's environment: nothing that would point it at another home or proxy."""
    out = dict(os.environ)
    for name in ("SAMIZDAT_HOME", "SAMIZDAT_PROXY", "SAMIZDAT_DEBUG", "ALL_PROXY", "HTTPS_PROXY", "HTTP_PROXY"):
        out.pop(name, None)
        out.pop(name.lower(), None)
    out.update(passphrase_env())  # encrypted nodes, cheap to unlock (samizdat.testing)
    out.update({"PYTHONUNBUFFERED": "1", "COLUMNS": "120"}, **extra)
    return out


class ProxyLab:
    """The three namespaces and what runs in them. Build with :meth:`start`; always :meth:`close`."""

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        prefix = f"smzp{os.getpid()}"
        self.client, self.proxy, self.relays = f"{prefix}c", f"{prefix}p", f"{prefix}r"
        self.processes: list[tuple[str, subprocess.Popen[bytes]]] = []
        self.relay_home = workdir / "relay"

    # -- plumbing ----------------------------------------------------------------------------------------------

    def run_in(self, ns: str, *args: str, check: bool = True, timeout: float = 30) -> subprocess.CompletedProcess[str]:
        return sh("ip", "netns", "exec", ns, *args, check=check, timeout=timeout)

    def spawn(self, ns: str, name: str, *args: str) -> subprocess.Popen[bytes]:
        with (self.workdir / f"{name}.log").open("wb") as log:
            process = subprocess.Popen(["ip", "netns", "exec", ns, *args], stdout=log, stderr=subprocess.STDOUT,
                                       stdin=subprocess.DEVNULL, env=env())  # fmt: skip
        self.processes.append((name, process))
        return process

    def stop(self, process: subprocess.Popen[bytes], timeout: float = 15) -> None:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout)

    def log(self, name: str) -> str:
        path = self.workdir / f"{name}.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def wait_port(self, ns: str, host: str, port: int, name: str, timeout: float = 45) -> None:
        probe = (
            "import socket,sys,time\n"
            f"d=time.time()+{timeout}\n"
            "while time.time()<d:\n"
            f"  try: socket.create_connection(('{host}',{port}),1).close(); sys.exit(0)\n"
            "  except OSError: time.sleep(0.1)\n"
            "sys.exit(1)\n"
        )
        if self.run_in(ns, sys.executable, "-c", probe, check=False, timeout=timeout + 5).returncode != 0:
            raise RuntimeError(f"{name} did not start listening on {host}:{port}: {self.log(name)[-2000:]}")

    @staticmethod
    def samizdat_args(home: Path, *args: str) -> list[str]:
        return [sys.executable, "-m", "samizdat", "--home", str(home), *args]

    def samizdat(
        self, home: Path, *args: str, ns: str | None = None, timeout: float = 90, **extra_env: str
    ) -> subprocess.CompletedProcess[str]:
        """``samizdat --home HOME ARGS`` in the client namespace (or ``ns``)."""
        return subprocess.run(
            ["ip", "netns", "exec", ns or self.client, *self.samizdat_args(home, *args)], capture_output=True,
            text=True, timeout=timeout, env=env(**extra_env), check=False, stdin=subprocess.DEVNULL,
        )  # fmt: skip

    def python_in_client(self, script: str, timeout: float = 30) -> subprocess.CompletedProcess[str]:
        return self.run_in(self.client, sys.executable, "-c", script, check=False, timeout=timeout)

    # -- the counters ------------------------------------------------------------------------------------------

    def counters(self) -> dict[str, int]:
        """Packets counted so far in the client namespace, by counter (``proxy`` and :data:`LEAK_COUNTERS`)."""
        listed = self.run_in(self.client, "nft", "-j", "list", "counters", "table", "inet", "smzleak").stdout
        listing = json.loads(listed)
        found = {}
        for item in listing.get("nftables", []):
            counter = item.get("counter")
            if counter is not None:
                found[counter["name"]] = int(counter["packets"])
        return found

    # -- building ----------------------------------------------------------------------------------------------

    def start(self) -> ProxyLab:
        clean_leftovers()
        self.workdir.mkdir(parents=True, exist_ok=True)
        c, p, r = self.client, self.proxy, self.relays
        for ns in (c, p, r):
            sh("ip", "netns", "add", ns)
            # IPv6 off before any link exists: the kernel then sends nothing by itself (router solicitations...).
            self.run_in(ns, "sysctl", "-qw", "net.ipv6.conf.all.disable_ipv6=1", "net.ipv6.conf.default.disable_ipv6=1")
            self.run_in(ns, "ip", "link", "set", "lo", "up")
        self.run_in(c, "ip", "link", "add", "c0", "type", "veth", "peer", "name", "p0", "netns", p)
        self.run_in(r, "ip", "link", "add", "r0", "type", "veth", "peer", "name", "p1", "netns", p)
        # The void: a veth pair whose both ends are in the client namespace (this kernel has no dummy device).
        self.run_in(c, "ip", "link", "add", "void0", "type", "veth", "peer", "name", "void1")
        self.run_in(c, "ip", "link", "set", "void1", "up")
        for ns, address, dev in ((c, "10.77.1.2/24", "c0"), (p, f"{PROXY_IP}/24", "p0"), (p, "10.77.2.1/24", "p1"),
                                 (r, f"{RELAY_IP}/24", "r0"), (c, "10.77.9.2/24", "void0")):  # fmt: skip
            self.run_in(ns, "ip", "addr", "add", address, "dev", dev)
            self.run_in(ns, "ip", "link", "set", dev, "up")
        self.run_in(c, "ip", "route", "add", "default", "dev", "void0")
        hosts = f"127.0.0.1 localhost\n{RELAY_IP} {RELAY_NAME}\n"
        files = {
            c: {"hosts": "127.0.0.1 localhost\n", "resolv.conf": f"nameserver {VOID_RESOLVER}\noptions attempts:1\n"},
            p: {"hosts": hosts, "resolv.conf": "nameserver 127.0.0.1\n"},
            r: {"hosts": hosts, "resolv.conf": "nameserver 127.0.0.1\n"},
        }
        for ns, contents in files.items():
            Path(f"/etc/netns/{ns}").mkdir(parents=True, exist_ok=True)
            for name, text in contents.items():
                Path(f"/etc/netns/{ns}/{name}").write_text(text)
        rules = self.workdir / "leaks.nft"
        rules.write_text(RULES)
        self.run_in(c, "nft", "-f", str(rules))
        self.spawn(p, "microsocks", "microsocks", "-i", PROXY_IP, "-p", "1080")
        sh(*self.samizdat_args(self.relay_home, "init"), environment=env())
        (self.relay_home / "config.toml").write_text('[node]\nname = "lab relay"\n[lan]\nmdns = false\n')
        serve = ("serve", "--host", RELAY_IP, "--port", str(RELAY_PORT))
        self.spawn(r, "relay", *self.samizdat_args(self.relay_home, *serve))
        self.wait_port(p, PROXY_IP, 1080, "microsocks")
        self.wait_port(r, RELAY_IP, RELAY_PORT, "relay")
        return self

    def start_tor(self) -> subprocess.Popen[bytes]:
        """Debian's tor in the proxy namespace, its SOCKS port at :data:`TOR`: running, but with no network to
        build a circuit on."""
        data = self.workdir / "tor"
        data.mkdir(mode=0o700, exist_ok=True)
        torrc = self.workdir / "torrc"
        torrc.write_text(f"SocksPort {PROXY_IP}:9050\nDataDirectory {data}\nLog notice stdout\nAvoidDiskWrites 1\n")
        process = self.spawn(self.proxy, "tor", "tor", "-f", str(torrc))
        self.wait_port(self.proxy, PROXY_IP, 9050, "tor")
        return process

    def relay_has(self, event_ids: list[str]) -> set[str]:
        """Which of ``event_ids`` the lab's relay holds (asked in its own namespace)."""
        script = (
            "import asyncio,json\n"
            "from samizdat.net.client import RelayClient\n"
            "from samizdat.core.filters import Filter\n"
            "async def main():\n"
            f"  async with await RelayClient.connect('ws://{RELAY_IP}:{RELAY_PORT}', timeout=10) as c:\n"
            f"    found = await c.fetch([Filter(ids=frozenset({event_ids!r}))], timeout=10)\n"
            "  print(json.dumps([e.id for e in found]))\n"
            "asyncio.run(main())\n"
        )
        done = self.run_in(self.relays, sys.executable, "-c", script, check=False, timeout=30)
        return set(json.loads(done.stdout)) if done.returncode == 0 else set()

    def close(self) -> None:
        for _, process in reversed(self.processes):
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + 10
        for _, process in self.processes:
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.wait(max(0.1, deadline - time.monotonic()))
            if process.poll() is None:
                process.kill()
                process.wait(5)
        for ns in (self.client, self.proxy, self.relays):
            sh("ip", "netns", "del", ns, check=False)
            shutil.rmtree(f"/etc/netns/{ns}", ignore_errors=True)

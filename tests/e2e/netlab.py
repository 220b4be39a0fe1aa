"""The censorship lab: network namespaces with a censoring router between a node and its relays.

::

    client ns (10.88.1.2)  ──  router ns (10.88.1.1 | 10.88.2.1)  ──  net ns (10.88.2.2 and the relays' addresses)
    the node, samizdat CLI      the censor: dnsmasq (the "ISP" resolver,    two samizdat relays behind TLS fronts,
    resolv.conf → 10.88.1.1     lying), nft/iptables on FORWARD, DNAT     a truthful dnsmasq (10.88.2.53),
                                to a block page / MITM / delaying hop     microsocks (10.88.2.5:1080)

Every relay name below is one case of the issue's matrix; the censor treats each as its case says. The SOCKS
proxy is "outside": the client reaches it through the router (which does not block it), and it reaches the
relays without passing the censor, resolving names with the truthful resolver. ``mirror.test`` is never blocked
and has a store of its own. Names: ``smzb<pid>c|r|n``; ``/etc/netns/<ns>/resolv.conf`` gives each namespace its
resolver. Everything is removed by :meth:`Lab.close` (and leftovers of dead runs by :func:`clean_leftovers`).

Used by ``tests/e2e/test_blocking.py`` and by ``bench/failover.py`` / ``bench/netcheck.py``.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from samizdat.testing import passphrase_env

HERE = Path(__file__).resolve().parent
FORWARD = HERE / "netlab_forward.py"
PROXY = "socks5h://10.88.2.5:1080"
CONTROL_DNS = "tcp://10.88.2.53:53"
MAIN_PORT, MIRROR_PORT = 8080, 8081  # the two samizdat relays, on loopback in the net namespace


@dataclass(frozen=True)
class Case:
    name: str
    address: str
    expected: str
    secure: bool = True

    @property
    def url(self) -> str:
        return f"{'wss' if self.secure else 'ws'}://{self.name}"


CASES = [
    Case("ok.test", "10.88.2.10", "ok"),
    Case("nx.test", "10.88.2.11", "dns.nxdomain"),
    Case("bogon.test", "10.88.2.12", "dns.injection.bogon"),
    Case("reset.test", "10.88.2.13", "tcp.reset"),
    Case("sni.test", "10.88.2.14", "tls.reset.sni"),
    Case("hole.test", "10.88.2.15", "tcp.timeout"),
    Case("slow.test", "10.88.2.16", "ok"),  # 300 ms each way, 10% loss, 1 Mbit/s: slow, not blocked
    Case("mitm.test", "10.88.2.17", "tls.mitm"),
    Case("block.test", "10.88.2.18", "http.blockpage", secure=False),
    Case("down.test", "10.88.2.19", "down"),  # nothing listens: down for everyone
    # Censors that let the handshake through and break the connection afterwards (nft on conntrack counters):
    Case("stall.test", "10.88.2.21", "data.stall"),  # everything dropped once 16 KB came back (Russia's TSPU)
    Case("upstall.test", "10.88.2.22", "data.stall"),  # ... once the client sent 16 KB
    Case("throttle.test", "10.88.2.23", "data.throttled"),  # policed to 16 KB/s toward the client
]
#: The cases of censors that break connections after the handshake: the old netcheck called them all "ok".
DATA_CASES = [c for c in CASES if c.expected.startswith("data.")]
#: Events seeded on the main relay (about 1.2 KB each): enough for netcheck's data step to pass 64 KB.
SEED_EVENTS = 150
MIRROR = Case("mirror.test", "10.88.2.20", "ok")
BY_NAME = {c.name: c for c in [*CASES, MIRROR]}


def missing_requirements() -> str | None:
    """Why the lab cannot run here, or None."""
    if os.geteuid() != 0:
        return "the censorship lab needs root (network namespaces)"
    for tool in ("ip", "nft", "iptables", "dnsmasq", "microsocks", "openssl"):
        if shutil.which(tool) is None:
            return f"{tool} is not installed (scripts/system-packages.sh installs scripts/apt/blocking.txt)"
    return None


def sh(*args: str, check: bool = True, timeout: float = 30) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(args, capture_output=True, text=True, timeout=timeout, check=False)
    if check and done.returncode != 0:
        raise RuntimeError(f"{' '.join(args)} failed: {done.stderr.strip()}")
    return done


def clean_leftovers() -> None:
    """Remove namespaces (and their resolver files) of earlier runs whose process is gone."""
    listing = sh("ip", "netns", "list", check=False).stdout
    for line in listing.splitlines():
        name = line.split()[0] if line.split() else ""
        match = re.fullmatch(r"smzb(\d+)[crn]", name)
        if match and not Path(f"/proc/{match.group(1)}").exists():
            sh("ip", "netns", "del", name, check=False)
            shutil.rmtree(f"/etc/netns/{name}", ignore_errors=True)


def make_certificates(directory: Path) -> None:
    """A throwaway CA, the relays' certificate from it, and a censor's certificate for mitm.test from another."""
    names = [c.name for c in [*CASES, MIRROR]]
    san = ",".join(f"DNS:{n}" for n in names)

    def openssl(*args: str) -> None:
        sh("openssl", *args, timeout=60)

    d = str(directory)
    for ca in ("ca", "censor-ca"):
        openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-days", "2",
                "-subj", f"/CN=samizdat test {ca}", "-keyout", f"{d}/{ca}.key", "-out", f"{d}/{ca}.pem")  # fmt: skip
    for leaf, ca, alt in (("relay", "ca", san), ("mitm", "censor-ca", "DNS:mitm.test")):
        openssl("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-subj",
                f"/CN={leaf}", "-keyout", f"{d}/{leaf}.key", "-out", f"{d}/{leaf}.csr")  # fmt: skip
        (directory / f"{leaf}.ext").write_text(f"subjectAltName={alt}\n")
        openssl("x509", "-req", "-in", f"{d}/{leaf}.csr", "-CA", f"{d}/{ca}.pem", "-CAkey", f"{d}/{ca}.key",
                "-CAcreateserial", "-days", "2", "-extfile", f"{d}/{leaf}.ext", "-out", f"{d}/{leaf}.pem")  # fmt: skip


class Lab:
    """The three namespaces and everything running in them. Build with :meth:`start`; always :meth:`close`."""

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.prefix = f"smzb{os.getpid()}"
        self.client, self.router, self.net = f"{self.prefix}c", f"{self.prefix}r", f"{self.prefix}n"
        self.processes: list[tuple[str, subprocess.Popen[bytes]]] = []
        self.ca = workdir / "ca.pem"
        self.relay_homes = {MAIN_PORT: workdir / "relay-main", MIRROR_PORT: workdir / "relay-mirror"}

    # -- plumbing ----------------------------------------------------------------------------------------------

    def run_in(self, ns: str, *args: str, check: bool = True, timeout: float = 30) -> subprocess.CompletedProcess[str]:
        return sh("ip", "netns", "exec", ns, *args, check=check, timeout=timeout)

    def spawn(self, ns: str, name: str, *args: str, env: dict[str, str] | None = None) -> subprocess.Popen[bytes]:
        log = (self.workdir / f"{name}.log").open("wb")
        process = subprocess.Popen(
            ["ip", "netns", "exec", ns, *args], stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            env=env,
        )  # fmt: skip
        log.close()
        self.processes.append((name, process))
        return process

    def log(self, name: str) -> str:
        path = self.workdir / f"{name}.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def wait_port(self, ns: str, host: str, port: int, name: str, timeout: float = 30) -> None:
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

    def env(self, **extra: str) -> dict[str, str]:
        env = dict(os.environ)
        for name in ("SAMIZDAT_HOME", "SAMIZDAT_PROXY", "SAMIZDAT_DEBUG"):
            env.pop(name, None)
        env.update(passphrase_env())  # encrypted nodes, cheap to unlock (samizdat.testing)
        env.update({"PYTHONUNBUFFERED": "1", "COLUMNS": "120", "SSL_CERT_FILE": str(self.ca)}, **extra)
        return env

    @staticmethod
    def samizdat_args(home: Path, *args: str) -> list[str]:
        return [sys.executable, "-m", "samizdat", "--home", str(home), *args]

    def samizdat_command(self, home: Path, *args: str) -> list[str]:
        """The command line of ``samizdat --home HOME ARGS`` in the client namespace."""
        return ["ip", "netns", "exec", self.client, *self.samizdat_args(home, *args)]

    def samizdat(self, home: Path, *args: str, timeout: float = 90) -> subprocess.CompletedProcess[str]:
        """Run ``samizdat --home HOME ARGS`` in the client namespace, trusting the lab's CA."""
        return subprocess.run(
            self.samizdat_command(home, *args),
            capture_output=True, text=True, timeout=timeout, env=self.env(), check=False, stdin=subprocess.DEVNULL,
        )  # fmt: skip

    # -- building ----------------------------------------------------------------------------------------------

    def start(self) -> Lab:
        clean_leftovers()
        self.workdir.mkdir(parents=True, exist_ok=True)
        make_certificates(self.workdir)
        for ns in (self.client, self.router, self.net):
            sh("ip", "netns", "add", ns)
            self.run_in(ns, "ip", "link", "set", "lo", "up")
        c, r, n = self.client, self.router, self.net
        # Links are made inside the namespaces, never in the root one.
        self.run_in(c, "ip", "link", "add", "c0", "type", "veth", "peer", "name", "r0", "netns", r)
        self.run_in(n, "ip", "link", "add", "n0", "type", "veth", "peer", "name", "r1", "netns", r)
        self.run_in(c, "ip", "addr", "add", "10.88.1.2/24", "dev", "c0")
        self.run_in(r, "ip", "addr", "add", "10.88.1.1/24", "dev", "r0")
        self.run_in(r, "ip", "addr", "add", "10.88.2.1/24", "dev", "r1")
        self.run_in(n, "ip", "addr", "add", "10.88.2.2/24", "dev", "n0")
        for extra in ["10.88.2.5", "10.88.2.53", *(case.address for case in [*CASES, MIRROR])]:
            self.run_in(n, "ip", "addr", "add", f"{extra}/32", "dev", "n0")
        for ns, dev in ((c, "c0"), (r, "r0"), (r, "r1"), (n, "n0")):
            self.run_in(ns, "ip", "link", "set", dev, "up")
        self.run_in(c, "ip", "route", "add", "default", "via", "10.88.1.1")
        self.run_in(n, "ip", "route", "add", "default", "via", "10.88.2.1")
        self.run_in(r, "sysctl", "-qw", "net.ipv4.ip_forward=1")
        for ns, resolver in ((c, "10.88.1.1"), (n, "10.88.2.53"), (r, "10.88.2.53")):
            Path(f"/etc/netns/{ns}").mkdir(parents=True, exist_ok=True)
            Path(f"/etc/netns/{ns}/resolv.conf").write_text(f"nameserver {resolver}\noptions timeout:2 attempts:1\n")
        self._start_services()
        self.seed(MAIN_PORT, SEED_EVENTS)
        self._censor()
        return self

    def _start_services(self) -> None:
        c, r, n = self.client, self.router, self.net
        w = self.workdir
        truth = [f"--host-record={case.name},{case.address}" for case in [*CASES, MIRROR]]
        common = ["dnsmasq", "--keep-in-foreground", "--conf-file=/dev/null", "--no-hosts", "--bind-interfaces",
                  "--log-facility=-", "--user=root", "--pid-file="]  # fmt: skip
        self.spawn(n, "dns-truth", *common, "--listen-address=10.88.2.53", "--no-resolv", *truth)
        # The censor's resolver: lies about bogon.test, denies nx.test, forwards the rest to the truthful one.
        self.spawn(r, "dns-censor", *common, "--listen-address=10.88.1.1", "--no-resolv", "--server=10.88.2.53",
                   "--address=/bogon.test/127.0.0.1", "--address=/nx.test/")  # fmt: skip
        self.spawn(n, "socks", "microsocks", "-i", "10.88.2.5", "-p", "1080")
        for port, home in self.relay_homes.items():
            subprocess.run([sys.executable, "-m", "samizdat", "--home", str(home), "init"], capture_output=True,
                           check=True, env=self.env())  # fmt: skip
            self.spawn(n, f"relay-{port}", sys.executable, "-m", "samizdat", "--home", str(home), "serve",
                       "--host", "127.0.0.1", "--port", str(port), env=self.env())  # fmt: skip
        served = [case for case in CASES if case.expected != "down"]
        listen_tls = [arg for case in served for arg in ("--listen", f"{case.address}:443")]
        listen_plain = [arg for case in served for arg in ("--listen", f"{case.address}:80")]
        tls = ("--tls", f"{w}/relay.pem", f"{w}/relay.key")
        fwd = (sys.executable, str(FORWARD))
        self.spawn(n, "front-tls", *fwd, *listen_tls, "--to", f"127.0.0.1:{MAIN_PORT}", *tls)
        self.spawn(n, "front-plain", *fwd, *listen_plain, "--to", f"127.0.0.1:{MAIN_PORT}")
        self.spawn(n, "front-mirror", *fwd, "--listen", f"{MIRROR.address}:443", "--listen", f"{MIRROR.address}:80",
                   "--to", f"127.0.0.1:{MIRROR_PORT}", *tls)  # fmt: skip
        # The censor's own services, in the router: a block page, a MITM with its own CA, a delaying hop.
        self.spawn(r, "blockpage", *fwd, "--listen", "10.88.1.1:8000", "--blockpage")
        self.spawn(r, "mitm", *fwd, "--listen", "10.88.1.1:8443", "--to", "10.88.2.17:80",
                   "--tls", f"{w}/mitm.pem", f"{w}/mitm.key")  # fmt: skip
        # slow.test's link: 1 Mbit/s each way (the hop paces itself: a tbf could only slow the whole link, this
        # kernel has no classful qdisc to single out one relay), 300 ms each way, 10% loss (nft, below).
        self.spawn(r, "delay", *fwd, "--listen", "10.88.1.1:9443", "--to", "10.88.2.16:443", "--delay", "0.3",
                   "--rate", "125000")  # fmt: skip
        for ns, host, port, name in (
            (n, "10.88.2.53", 53, "dns-truth"), (r, "10.88.1.1", 53, "dns-censor"), (n, "10.88.2.5", 1080, "socks"),
            (n, "127.0.0.1", MAIN_PORT, f"relay-{MAIN_PORT}"), (n, "127.0.0.1", MIRROR_PORT, f"relay-{MIRROR_PORT}"),
            (n, "10.88.2.10", 443, "front-tls"), (n, "10.88.2.18", 80, "front-plain"),
            (n, MIRROR.address, 443, "front-mirror"), (r, "10.88.1.1", 8000, "blockpage"),
            (r, "10.88.1.1", 8443, "mitm"), (r, "10.88.1.1", 9443, "delay"),
        ):  # fmt: skip
            self.wait_port(ns, host, port, name)
        del c

    def seed(self, port: int, count: int) -> None:
        """Publish ``count`` events of about 1.2 KB to the relay on ``port``, from its namespace (no censor)."""
        script = (
            "import asyncio\n"
            "from samizdat.core.event import sign_event\n"
            "from samizdat.core.keys import SecretKey\n"
            "from samizdat.net.client import RelayClient\n"
            "async def main():\n"
            "  key = SecretKey.generate()\n"
            f"  events = [sign_event(key, 1, 'seed %04d ' % i + 'x' * 1100, [], created_at=1700000000 + i)"
            f" for i in range({count})]\n"
            f"  async with await RelayClient.connect('ws://127.0.0.1:{port}', timeout=10) as c:\n"
            "    results = await c.publish_many(events, timeout=30)\n"
            "  assert all(r.accepted for r in results), [r.message for r in results if not r.accepted][:3]\n"
            "asyncio.run(main())\n"
        )
        done = self.run_in(self.net, sys.executable, "-c", script, check=False, timeout=60)
        if done.returncode != 0:
            raise RuntimeError(f"seeding the relay on port {port} failed: {done.stderr[-2000:]}")

    def _censor(self) -> None:
        r = self.router
        rules = """
table inet smzb {
  chain pre {
    type nat hook prerouting priority dstnat; policy accept;
    ip saddr 10.88.1.0/24 ip daddr 10.88.2.18 tcp dport 80 dnat ip to 10.88.1.1:8000
    ip saddr 10.88.1.0/24 ip daddr 10.88.2.17 tcp dport 443 dnat ip to 10.88.1.1:8443
    ip saddr 10.88.1.0/24 ip daddr 10.88.2.16 tcp dport 443 dnat ip to 10.88.1.1:9443
  }
  chain input {
    type filter hook input priority filter; policy accept;
    ip saddr 10.88.1.0/24 tcp dport 9443 numgen random mod 10 0 drop
  }
  chain forward {
    type filter hook forward priority filter; policy accept;
    ip saddr 10.88.1.0/24 ip daddr 10.88.2.13 tcp dport 443 reject with tcp reset
    ip saddr 10.88.1.0/24 ip daddr 10.88.2.15 drop
    ip daddr 10.88.2.21 ct reply bytes > 16000 drop
    ip saddr 10.88.2.21 ct reply bytes > 16000 drop
    ip daddr 10.88.2.22 ct original bytes > 16000 drop
    ip saddr 10.88.2.22 ct original bytes > 16000 drop
    ip saddr 10.88.2.23 ip daddr 10.88.1.0/24 limit rate over 16 kbytes/second drop
  }
  chain block_main {
    type filter hook forward priority filter - 1; policy accept;
  }
}
"""
        rules_file = self.workdir / "censor.nft"
        rules_file.write_text(rules)
        self.run_in(r, "nft", "-f", str(rules_file))
        # Conntrack's byte counters (``ct bytes``) are off by default: the stalling censors above count on them.
        self.run_in(r, "sysctl", "-qw", "net.netfilter.nf_conntrack_acct=1")
        # The TLS server name, seen by string match in the ClientHello (iptables, as TESTBED.md found working).
        self.run_in(r, "iptables", "-A", "FORWARD", "-p", "tcp", "--dport", "443", "-m", "string", "--algo", "kmp",
                    "--string", "sni.test", "-j", "REJECT", "--reject-with", "tcp-reset")  # fmt: skip

    def block(self, address: str) -> None:
        """Blackhole ``address`` from now on (the moment a censor starts blocking a relay)."""
        self.run_in(self.router, "nft", "add", "rule", "inet", "smzb", "block_main", "ip", "saddr", "10.88.1.0/24",
                    "ip", "daddr", address, "drop")  # fmt: skip

    def unblock_all(self) -> None:
        self.run_in(self.router, "nft", "flush", "chain", "inet", "smzb", "block_main")

    def relay_has(self, port: int, event_ids: list[str]) -> set[str]:
        """Which of ``event_ids`` the relay on ``port`` (MAIN_PORT or MIRROR_PORT) holds, asked in its namespace."""
        script = (
            "import asyncio,sys,json\n"
            "from samizdat.net.client import RelayClient\n"
            "from samizdat.core.filters import Filter\n"
            "async def main():\n"
            f"  async with await RelayClient.connect('ws://127.0.0.1:{port}', timeout=10) as c:\n"
            f"    found = await c.fetch([Filter(ids=frozenset({event_ids!r}))], timeout=10)\n"
            "  print(json.dumps([e.id for e in found]))\n"
            "asyncio.run(main())\n"
        )
        done = self.run_in(self.net, sys.executable, "-c", script, check=False, timeout=30)
        if done.returncode != 0:
            return set()
        return set(__import__("json").loads(done.stdout))

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
        for ns in (self.client, self.router, self.net):
            sh("ip", "netns", "del", ns, check=False)
            shutil.rmtree(f"/etc/netns/{ns}", ignore_errors=True)

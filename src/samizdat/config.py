"""The node's data directory and its configuration file.

A data directory (``--home DIR``, else ``$SAMIZDAT_HOME``, else ``~/.samizdat``) holds:

* ``config.toml``: settings; every key can also be given on the command line, which wins;
* ``keys.slots``: on an encrypted node, the data key locked by passphrases (:mod:`samizdat.store.vault`);
* ``identity.sealed``: on an encrypted node, the node's secret key sealed under a key derived from the data key;
  ``identity.key`` instead on a node without a passphrase: the secret key in hex (mode 0600);
* ``events.sqlite`` (+ WAL files): the event store;
* ``local.sqlite``: this node's own state: followed channels, the outbox, sync progress;
* ``encrypting/``: only while ``samizdat encrypt`` turns a plain directory into an encrypted one, or after it was
  interrupted (``samizdat.store.encrypting``; the next command finishes or undoes it).
* ``spare/``: on an encrypted node, a second ``identity.sealed``, ``events.sqlite`` and ``local.sqlite``: the
  store a duress passphrase opens (:mod:`samizdat.services.decoy`). Every encrypted node has it from ``init`` on.

The configuration file is optional: a missing file or key means the embedded default. It is never encrypted (it
is read before the passphrase is asked for); ``docs/operating.md`` says what to keep out of it.
"""

from __future__ import annotations

import ipaddress
import os
import re
import tomllib
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

from samizdat.core.keys import SecretKey
from samizdat.core.sealing import NodeKeys, seal, unseal
from samizdat.errors import UsageError

DEFAULT_PORT = 4848

KEY_SLOTS = "keys.slots"  #: the key slot file of an encrypted node
IDENTITY_SEALED = "identity.sealed"  #: an encrypted node's secret key, sealed
IDENTITY_PLAIN = "identity.key"  #: a node without a passphrase: its secret key in hex
EVENTS_DB = "events.sqlite"  #: the event store
LOCAL_DB = "local.sqlite"  #: this node's own state
SPARE_DIR = "spare"  #: an encrypted node's second set of the three files above: the decoy store
PLAIN_MARKER = "unencrypted"  #: written by ``init --no-passphrase``: the node is plain on purpose
ENCRYPTING = "encrypting"  #: ``samizdat encrypt``'s staging directory, while it runs (store/encrypting.py)
_IDENTITY_MAGIC = b"SMZID\x00\x00\x01"

DEFAULT_CONFIG = f"""\
# Samizdat node configuration. Every key can also be set on the command line.

[node]
name = "samizdat node"
# Loopback by default; set host = "0.0.0.0" to serve a hub's Wi-Fi.
host = "127.0.0.1"
port = {DEFAULT_PORT}
# The node's public key is shown (NIP-11, /status, the web app's status) only on this machine and to a logged-in
# operator, so the hub's network cannot tell whose node it is; true shows it to everyone (docs/operating.md).
publish_key = false

[sync]
# Relays this identity writes to (besides each channel's mirrors), as in a NIP-65 relay list.
write_relays = []
# Seconds between background syncs of followed channels with their mirrors.
interval = 300
# Private reading: fetch whole areas (the 4-character geohash cell of each followed channel), so a relay learns the
# area you read, not which channels you follow there (docs/safety.md, "Private reading").
private = true
# Megabytes one area may bring in one sync at most; a larger area is not fetched and `samizdat status` says so.
area_budget_mb = 20
# Fetch each followed channel's posts from before area tags existed by channel, once per relay (that relay then
# learns you follow the channel); false leaves those older posts out.
old_by_channel = true
# A proxy for reaching relays, e.g. "socks5h://127.0.0.1:9050"; empty for direct connections.
proxy = ""
# Transports tried when a direct connection fails, in order (docs/blocking.md), e.g.
# fallback = ["tor", "socks5h://127.0.0.1:1080", "http://proxy.example:3128"]
fallback = []

# [transports]
# tor = "socks5h://127.0.0.1:9050"   # Tor's SOCKS port, for "tor" and .onion relays
# [relays."wss://relay.example"]
# via = ["socks5h://127.0.0.1:9050"] # this relay's own routes, tried in this order

[netcheck]
# Publish anonymous reachability reports after `samizdat netcheck` (opt-in; see docs/blocking.md).
report = false

[lan]
# When serve listens on the LAN (--host 0.0.0.0, --lan or --hub): announce this node and find others with mDNS.
mdns = true
# Once the table of LAN nodes is full (64): seconds a node that answers but has brought no new post keeps its
# place before a newcomer may take it (a device on the Wi-Fi may run dozens of made-up nodes that answer).
quiet_for = 300
# Seconds at most that the node keeps its own new posts from other LAN devices while a neighbour serves them first
# (each is held a random time from a quarter of this; 0 serves them at once): docs/safety.md.
hold_own = 120

[carry]
# Megabytes of event JSON kept for channels this node does not follow (alerts and help requests first, then the
# newest); followed channels and your own posts are always kept. An event of many tags weighs more than its JSON
# (docs/operating.md, "Carry and outbox bounds"). The database takes about two and a half times this on disk.
max_mb = 256

[relay]
# Flood protection per connection: events per second, and the burst allowed above that rate.
events_per_second = 500
events_burst = 5000
# Open connections the relay takes (all workers together; each needs a file descriptor).
max_connections = 10000
# Open connections per client address; behind a carrier NAT or a Tor exit many readers share one (docs/scaling.md).
max_connections_per_ip = 64
# Load balancers that send the PROXY protocol (HAProxy send-proxy / send-proxy-v2): a connection from these must
# start with a header naming the client, which every per-address limit then counts (docs/scaling.md).
# trusted_proxies = ["10.0.0.5/32"]
# A browser on this machine is answered only at the node's own names (addresses, localhost, its host name, .onion)
# and never for a page of another site, which could otherwise learn what this node carries; the operator login
# answers only to those names from anywhere. Names a proxy on this machine or a hub's DNS gives it, and web clients
# you trust to use it from this machine (docs/operating.md, "Pages of other sites"):
# host_names = ["relay.example.org"]
# allowed_origins = ["https://client.example"]
# Relay processes on the port (serve --workers): up to one per core; a hub on a Pi keeps one (docs/scaling.md).
workers = 1
# Check signatures in a thread of their own, beside the event loop and the store's writer: true, false, or unset
# for "when the machine has at least two cores more than relay processes" (docs/scaling.md).
# verify_in_thread = true
# A NATS bus between relay processes sharing the store (serve --bus), credentials in the URL or a creds file:
# bus = "nats://user:password@127.0.0.1:4222"
# bus_creds = "/etc/samizdat/nats.creds"

[web]
# A neutral name and icon for the web app (the phone's home screen, the browser's tab and history): "weather",
# "notes" or "calculator"; empty for "Samizdat" (docs/safety.md, "Your phone").
disguise = ""
# HTTPS: a certificate (full chain, PEM) and its key make serve answer https:// and wss:// on its port, so a phone
# keeps the app for offline use (browsers allow service workers only on secure pages; docs/web.md, "HTTPS").
# tls_cert = "/etc/letsencrypt/live/example.org/fullchain.pem"
# tls_key = "/etc/letsencrypt/live/example.org/privkey.pem"

# [store]
# The event store in PostgreSQL instead of events.sqlite in this directory (docs/scaling.md), e.g.
# url = "postgresql://samizdat:PASSWORD@db.example:5432/samizdat"; keys and settings stay here. Encryption at rest
# does not apply to it. read_url: a streaming replica of that database, for queries that may lag behind.
# url = ""
# read_url = ""

# [safety]
# Wipe this node when nobody has unlocked it (or logged in to its web app as the operator) for this many days:
# a dead man's switch, off unless set (docs/safety.md, "Wipe after N days").
# wipe_after_days = 14
# Keep the decoy store (the one a duress passphrase opens) in step with the channels it follows while this node
# serves, so that it looks used (docs/safety.md, "The duress passphrase and the decoy store").
# decoy_sync = true
# A kill cord: a path you keep tethered to your body, typically a USB stick on a lanyard seen as
# /dev/disk/by-id/usb-... When it goes while the node serves, the node locks (drops its keys and stops, as
# `samizdat lock`) or wipes itself (as `samizdat wipe --now`); serve refuses to start while it is absent
# (docs/safety.md, "The kill cord and sleep"). Off unless set.
# kill_cord = "/dev/disk/by-id/usb-..."
# kill_cord_action = "lock"
# Lock a serving encrypted node when the machine wakes from sleep (the lid closed and opened again).
# lock_after_sleep = true
"""

#: The web app's neutral names (``[web] disguise``); samizdat.web.app has their names, colours and icons.
DISGUISES = ("weather", "notes", "calculator")


@dataclass(frozen=True)
class Config:
    name: str = "samizdat node"
    host: str = "127.0.0.1"
    port: int = DEFAULT_PORT
    write_relays: tuple[str, ...] = ()
    sync_interval: float = 300.0
    proxy: str = ""
    via: tuple[str, ...] = ()  # --via: fallback transports from the command line (see net/failover.py)
    events_per_second: float = 500.0  # per connection, for the relay's flood protection
    events_burst: int = 5000
    max_connections: int = 10_000  # open TCP connections to the relay, all workers together
    max_connections_per_ip: int = 64  # open connections per client address (raise it behind a carrier NAT)
    trusted_proxies: tuple[str, ...] = ()  # load balancers whose PROXY protocol header names the client
    host_names: tuple[str, ...] = ()  # names the node is reached by besides the machine's own (relay/http.py)
    allowed_origins: tuple[str, ...] = ()  # other sites' pages that may use the node from this machine
    workers: int = 1  # relay processes on the port (samizdat/workers.py)
    verify_in_thread: bool | None = None  # signatures checked in a thread of their own; None: when 2 cores are spare
    bus: str = ""  # nats://... between relay processes sharing the store; "" for none (relay/bus.py)
    bus_creds: str = ""  # a NATS creds file
    mdns: bool = True
    lan_quiet_for: float = 300.0  # seconds a LAN node that brings nothing new keeps its place in a full table
    lan_hold_own: float = 120.0  # seconds at most the node's own new events wait for a LAN neighbour to serve them
    sync_private: bool = True  # area sync (services/areas.py)
    area_budget_mb: float = 20.0  # what one (relay, area) sync may bring, at most
    old_by_channel: bool = True  # fetch posts from before area tags by channel, once per (relay, channel)
    carry_mb: float = 256.0
    publish_key: bool = False  # show the node's key to every reader, not only this machine and the operator
    disguise: str = ""  # the web app's neutral name and icon (one of DISGUISES), or "" for Samizdat
    tls_cert: str = ""  # [web]: PEM certificate chain; with tls_key, serve speaks HTTPS/WSS
    tls_key: str = ""  # [web]: its PEM private key
    wipe_after_days: float = 0.0  # [safety]: wipe when nobody proved presence for this long; 0 is off
    decoy_sync: bool = True  # [safety]: serve keeps the decoy store's followed channels in step too
    kill_cord: str = ""  # [safety] / serve --kill-cord: a path whose going locks or wipes a serving node
    kill_cord_action: str = "lock"  # [safety]: "lock" or "wipe" (services/killcord.py)
    lock_after_sleep: bool = True  # [safety]: a serving encrypted node locks when the machine wakes from sleep
    store_url: str = ""  # [store] url / serve --store: a PostgreSQL event store; "" for events.sqlite
    store_read_url: str = ""  # [store] read_url: a replica of store_url for reads that may lag
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def area_budget_bytes(self) -> int:
        return int(self.area_budget_mb * 1_000_000)

    @property
    def carry_bytes(self) -> int:
        return int(self.carry_mb * 1_000_000)

    def with_overrides(self, **overrides: Any) -> Config:
        """A copy with every non-None override applied (command-line options win over the file)."""
        known = {f.name for f in fields(self)}
        return replace(self, **{k: v for k, v in overrides.items() if v is not None and k in known})


def resolve_home(home: str | os.PathLike[str] | None) -> Path:
    if home is not None:
        return Path(home).expanduser()
    env = os.environ.get("SAMIZDAT_HOME")
    return Path(env).expanduser() if env else Path.home() / ".samizdat"


def _typed(table: dict[str, Any], key: str, kind: type, where: str) -> Any:
    value = table[key]
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        name = {int: "an integer", str: "a string", bool: "true or false"}.get(kind, kind.__name__)
        raise UsageError(f"{where}: {key} must be {name}")
    return value


def load_config(home: Path) -> Config:
    """Read ``home/config.toml``; raise :class:`UsageError` with the file and the problem if it is malformed."""
    path = home / "config.toml"
    if not path.exists():
        return Config()
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise UsageError(f"{path} is not valid TOML: {exc}") from exc
    node, sync, relay = data.get("node", {}), data.get("sync", {}), data.get("relay", {})
    lan, carry, web = data.get("lan", {}), data.get("carry", {}), data.get("web", {})
    safety = data.get("safety", {})
    values: dict[str, Any] = {}
    for table, key, attr, kind in (
        (node, "name", "name", str),
        (node, "host", "host", str),
        (node, "port", "port", int),
        (sync, "proxy", "proxy", str),
        (relay, "events_burst", "events_burst", int),
        (relay, "workers", "workers", int),
        (relay, "verify_in_thread", "verify_in_thread", bool),
        (relay, "max_connections", "max_connections", int),
        (relay, "max_connections_per_ip", "max_connections_per_ip", int),
        (relay, "bus", "bus", str),
        (relay, "bus_creds", "bus_creds", str),
        (lan, "mdns", "mdns", bool),
        (node, "publish_key", "publish_key", bool),
        (sync, "private", "sync_private", bool),
        (sync, "old_by_channel", "old_by_channel", bool),
        (safety, "decoy_sync", "decoy_sync", bool),
        (safety, "lock_after_sleep", "lock_after_sleep", bool),
        (web, "tls_cert", "tls_cert", str),
        (web, "tls_key", "tls_key", str),
    ):
        if key in table:
            values[attr] = _typed(table, key, kind, str(path))
    if "interval" in sync:
        interval = sync["interval"]
        if not isinstance(interval, int | float) or isinstance(interval, bool) or interval <= 0:
            raise UsageError(f"{path}: sync.interval must be a positive number of seconds")
        values["sync_interval"] = float(interval)
    if "quiet_for" in lan:
        quiet = lan["quiet_for"]
        if not isinstance(quiet, int | float) or isinstance(quiet, bool) or not 10 <= quiet <= 86400:
            raise UsageError(f"{path}: lan.quiet_for must be a number of seconds from 10 to 86400")
        values["lan_quiet_for"] = float(quiet)
    if "hold_own" in lan:
        hold = lan["hold_own"]
        if not isinstance(hold, int | float) or isinstance(hold, bool) or not 0 <= hold <= 600:
            raise UsageError(f"{path}: lan.hold_own must be a number of seconds from 0 to 600")
        values["lan_hold_own"] = float(hold)
    if "area_budget_mb" in sync:
        budget = sync["area_budget_mb"]
        if not isinstance(budget, int | float) or isinstance(budget, bool) or budget <= 0:
            raise UsageError(f"{path}: sync.area_budget_mb must be a positive number of megabytes")
        values["area_budget_mb"] = float(budget)
    if "events_per_second" in relay:
        rate = relay["events_per_second"]
        if not isinstance(rate, int | float) or isinstance(rate, bool) or rate <= 0:
            raise UsageError(f"{path}: relay.events_per_second must be a positive number")
        values["events_per_second"] = float(rate)
    if values.get("workers", 1) < 1:
        raise UsageError(f"{path}: relay.workers must be 1 or more")
    if "max_mb" in carry:
        size = carry["max_mb"]
        if not isinstance(size, int | float) or isinstance(size, bool) or size < 0:
            raise UsageError(f"{path}: carry.max_mb must be a number of megabytes (0 or more)")
        values["carry_mb"] = float(size)
    if "disguise" in web:
        disguise = web["disguise"]
        if not isinstance(disguise, str) or disguise not in ("", *DISGUISES):
            raise UsageError(f'{path}: web.disguise must be one of {", ".join(DISGUISES)} (or "" for none)')
        values["disguise"] = disguise
    if "wipe_after_days" in safety:
        days = safety["wipe_after_days"]
        if not isinstance(days, int | float) or isinstance(days, bool) or days < 0:
            raise UsageError(f"{path}: safety.wipe_after_days must be a number of days (0 turns it off)")
        values["wipe_after_days"] = float(days)
    if "kill_cord" in safety:
        cord = safety["kill_cord"]
        if not isinstance(cord, str) or (cord and not os.path.isabs(cord)):
            raise UsageError(f'{path}: safety.kill_cord must be an absolute path such as "/dev/disk/by-id/usb-..."')
        values["kill_cord"] = cord
    if "kill_cord_action" in safety:
        if safety["kill_cord_action"] not in ("lock", "wipe"):
            raise UsageError(f'{path}: safety.kill_cord_action must be "lock" or "wipe"')
        values["kill_cord_action"] = safety["kill_cord_action"]
    store = data.get("store", {})
    for key, attr in (("url", "store_url"), ("read_url", "store_read_url")):
        if key in store:
            values[attr] = check_store_url(_typed(store, key, str, str(path)), f"{path}: store.{key}")
    if values.get("store_read_url") and not values.get("store_url"):
        raise UsageError(f"{path}: store.read_url needs store.url (the primary that it replicates)")
    if "trusted_proxies" in relay:
        values["trusted_proxies"] = check_networks(relay["trusted_proxies"], f"{path}: relay.trusted_proxies")
    if "host_names" in relay:
        values["host_names"] = check_host_names(relay["host_names"], f"{path}: relay.host_names")
    if "allowed_origins" in relay:
        values["allowed_origins"] = check_origins(relay["allowed_origins"], f"{path}: relay.allowed_origins")
    if "write_relays" in sync:
        relays = sync["write_relays"]
        if not isinstance(relays, list) or not all(isinstance(r, str) for r in relays):
            raise UsageError(f"{path}: sync.write_relays must be a list of relay URLs")
        values["write_relays"] = tuple(relays)
    return Config(**values, extra=data)


_HOST_NAME = re.compile(r"(?=.{1,253}$)[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*\.?")


def check_host_names(given: object, where: str) -> tuple[str, ...]:
    """``given`` (a list of host names such as "relay.example.org", without scheme or port), lowercased; else a
    UsageError in one line."""
    if not isinstance(given, list) or not all(isinstance(n, str) for n in given):
        raise UsageError(f'{where} must be a list of host names such as "relay.example.org"')
    names = tuple(n.strip().lower() for n in given)
    for name in names:
        if not _HOST_NAME.fullmatch(name):
            raise UsageError(f'{where}: "{name}" is not a host name (no scheme, port or path: "relay.example.org")')
    return names


def check_origins(given: object, where: str) -> tuple[str, ...]:
    """``given`` (a list of web origins such as "https://client.example"), lowercased; else a UsageError."""
    if not isinstance(given, list) or not all(isinstance(o, str) for o in given):
        raise UsageError(f'{where} must be a list of web origins such as "https://client.example"')
    origins = tuple(o.strip().lower().rstrip("/") for o in given)
    for origin in origins:
        try:
            parts = urlsplit(origin)
            parts.port  # noqa: B018 - raises ValueError for a port that is not one
        except ValueError:
            parts = None
        if parts is None or parts.scheme not in ("http", "https") or not parts.hostname or parts.username \
                or parts.path or parts.query or parts.fragment:  # fmt: skip
            raise UsageError(
                f'{where}: "{origin}" is not a web origin (scheme and host, such as "https://client.example")'
            )
    return origins


def check_networks(given: object, where: str) -> tuple[str, ...]:
    """``given`` (a list of addresses or networks such as "10.0.0.0/24") as a tuple of network strings; else
    UsageError saying ``where``."""
    if not isinstance(given, list | tuple) or not all(isinstance(n, str) for n in given):
        raise UsageError(f'{where} must be a list of addresses or networks such as "10.0.0.5/32"')
    networks = []
    for text in given:
        try:
            networks.append(str(ipaddress.ip_network(text.strip(), strict=False)))
        except ValueError:
            raise UsageError(f"{where}: {text!r} is not an address or a network such as 10.0.0.0/24") from None
    return tuple(networks)


def check_store_url(url: str, where: str) -> str:
    """``url`` if it is empty or a PostgreSQL URL (``postgresql://...``); else UsageError saying ``where``."""
    if url and not url.startswith(("postgresql://", "postgres://")):
        raise UsageError(f"{where} must be a PostgreSQL URL (postgresql://user:password@host:port/database)")
    return url


HomeKind = Literal["encrypted", "plain", "new"]


def home_kind(home: Path) -> HomeKind:
    """``encrypted`` (it has key slots), ``plain`` (a secret key in clear: made with ``--no-passphrase``, or before
    Samizdat encrypted its data) or ``new`` (not set up yet)."""
    if (home / KEY_SLOTS).exists() or (home / IDENTITY_SEALED).exists():
        return "encrypted"
    if (home / IDENTITY_PLAIN).exists() or (home / "events.sqlite").exists() or (home / "local.sqlite").exists():
        return "plain"
    return "new"


def _write_private(path: Path, data: bytes) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())


def init_home(
    home: Path, random_bytes: Any = os.urandom, *, keys: NodeKeys | None = None, secret: SecretKey | None = None
) -> bool:
    """Create the data directory, a default config and a new identity (``secret`` instead, when one is imported);
    return False if it already had one.

    With ``keys`` (an encrypted node: the key slots exist already), the identity is sealed under ``keys.identity``
    in ``identity.sealed``; without, it is written in hex to ``identity.key``.
    """
    key_path = home / (IDENTITY_PLAIN if keys is None else IDENTITY_SEALED)
    if key_path.exists():
        return False
    home.mkdir(parents=True, exist_ok=True, mode=0o700)
    home.chmod(0o700)  # a folder that existed (made by hand) keeps its mode through mkdir: other users stay out
    config_path = home / "config.toml"
    if not config_path.exists():
        config_path.write_text(DEFAULT_CONFIG, encoding="utf-8")
    key = secret or SecretKey.generate(random_bytes)
    if keys is None:
        _write_private(key_path, (key.secret.hex() + "\n").encode("ascii"))
    else:
        seal_identity(key_path, key, keys)
    return True


def seal_identity(path: Path, key: SecretKey, keys: NodeKeys) -> None:
    """Write ``key`` sealed under ``keys.identity`` to the new file ``path`` (mode 0600, fsynced): an encrypted
    node's ``identity.sealed``. Raises FileExistsError if ``path`` exists, OSError."""
    _write_private(path, seal(keys.identity, key.secret, _IDENTITY_MAGIC))


def rewrite_sealed_identity(path: Path, keys: NodeKeys, random_bytes: Any = os.urandom) -> None:
    """Seal a new identity under ``keys.identity`` into ``path``, overwriting the file in place if it exists (so
    it keeps its inode and creation date: the duress store's reset, services/decoy.py) and syncing it."""
    blob = seal(keys.identity, SecretKey.generate(random_bytes).secret, _IDENTITY_MAGIC)
    write_in_place(path, blob)


def write_in_place(path: Path, data: bytes) -> None:
    """Replace the contents of ``path`` (created 0600 if missing) with ``data`` in the same file, synced."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())


def sealed_identity_opens(path: Path, keys: NodeKeys) -> bool:
    """Whether ``path`` holds an identity sealed under ``keys`` (False if it is missing or under another key)."""
    try:
        _load_sealed(path, keys)
    except UsageError:
        return False
    return True


def load_identity(home: Path, keys: NodeKeys | None = None) -> SecretKey:
    """The node's secret key; raise :class:`UsageError` telling the user to run ``samizdat init`` if missing.

    An encrypted node's needs its ``keys``; a plain node's is read from ``identity.key``.
    """
    if keys is not None:
        return _load_sealed(home / IDENTITY_SEALED, keys)
    if home_kind(home) == "encrypted":
        raise UsageError(f"{home} is encrypted: its identity opens only with the passphrase")
    path = home / IDENTITY_PLAIN
    try:
        text = path.read_text(encoding="ascii").strip()
    except FileNotFoundError as exc:
        raise UsageError(f"no identity in {home}: run `samizdat init` first") from exc
    except (OSError, UnicodeDecodeError) as exc:
        raise UsageError(f"cannot read {path}: {exc}") from exc
    try:
        return SecretKey.from_hex(text)
    except UsageError as exc:
        raise UsageError(f"{path} does not hold a valid secret key ({exc})") from exc


def _load_sealed(path: Path, keys: NodeKeys) -> SecretKey:
    try:
        blob = path.read_bytes()
    except FileNotFoundError as exc:
        raise UsageError(f"no identity in {path.parent}: run `samizdat init` first") from exc
    except OSError as exc:
        raise UsageError(f"cannot read {path}: {exc.strerror or exc}") from exc
    secret = unseal(keys.identity, blob, _IDENTITY_MAGIC, str(path))
    try:
        return SecretKey(secret)
    except (UsageError, ValueError) as exc:
        raise UsageError(f"{path} does not hold a valid secret key") from exc

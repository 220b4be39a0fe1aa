"""The operator codes' hashes, sealed on an encrypted node (the codes file of :mod:`samizdat.web.operator`).

Theory of operation
-------------------

The codes file (``web-operators``) keeps, for each operator code, its SHA-256, and that hash is exactly what a
browser proves it holds at login (an HMAC under it). On an encrypted node the file was plain: the police who image
a switched-off laptop, and give it back, logged in as the node from the Wi-Fi once it ran again, with any code
still valid (30 days by default), to post as it and to wipe it (red team, round 7b: docs/safety.md). So on an
encrypted node each hash is written sealed: ``<id>~<base64url(nonce (12) | ChaCha20-Poly1305(key, hash))>``, the
key derived from the node's local-state key (:attr:`~samizdat.core.sealing.NodeKeys.local`). The id (the hash's
first 8 hex characters, 32 of its 256 bits) stays readable, so ``samizdat web codes`` and ``web logout`` work
without the passphrase; a login needs the hash, hence an unlocked node, as ``serve`` is.

Every process that unlocks the node registers its key here (:func:`use`: ``Node.open`` through
:func:`samizdat.services.running.open_parts`, ``samizdat web login``); the codes file's functions take only the
node's home, so the key is found by it. A process that has none (a plain node, or ``web codes`` on an encrypted
one) reads a sealed hash as unknown and writes it back as it found it.

The file is replaced whole at every change (a temporary file renamed over it, so that a reader always sees a whole
file), and a rename frees the old file's blocks with their bytes in them: every earlier version of the file, the
plain hashes of a node of before included, stayed on the disk for whoever images it. :func:`replace` zeroes the old
file in place, through a descriptor opened before the rename, once the new one is in its place.
"""

from __future__ import annotations

import base64
import os
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305

from samizdat.core.sealing import NodeKeys, subkey
from samizdat.store import files

LABEL = b"samizdat/v1 operator codes"
MARK = "~"  #: between the id and the sealed hash
ID_CHARS = 8
_NONCE = 12
_AAD = b"samizdat operator code"
_keys: dict[Path, bytes] = {}


def _where(home: Path) -> Path:
    return home.resolve()


def use(home: Path, keys: NodeKeys | None) -> None:
    """Seal the operator codes of the node in ``home`` from now on in this process (nothing for a plain node)."""
    if keys is not None:
        _keys[_where(home)] = subkey(keys.local, LABEL)


def forget(home: Path) -> None:
    """The node was locked or wiped: its codes' key goes."""
    _keys.pop(_where(home), None)


def seal(home: Path, digest: str) -> str:
    """``digest`` (64 hex characters) as the codes file keeps it: sealed when this process holds the node's key,
    else as it is."""
    key = _keys.get(_where(home))
    if key is None:
        return digest
    nonce = os.urandom(_NONCE)
    sealed = ChaCha20Poly1305(key).encrypt(nonce, bytes.fromhex(digest), _AAD)
    return digest[:ID_CHARS] + MARK + base64.urlsafe_b64encode(nonce + sealed).decode().rstrip("=")


def replace(temporary: Path, path: Path) -> None:
    """Rename ``temporary`` over ``path``, then overwrite the file that was there with zeros and sync it (its
    blocks are freed only when the descriptor held here closes). Raises OSError from the rename."""
    try:
        old = os.open(path, os.O_WRONLY | os.O_NOFOLLOW)
    except OSError:
        old = -1
    try:
        os.replace(temporary, path)
        if old >= 0:
            size = os.fstat(old).st_size
            os.pwrite(old, bytes(size), 0)
            os.fsync(old)
    finally:
        if old >= 0:
            os.close(old)


def zero(path: Path) -> None:
    """Overwrite the file ``path`` in place and sync it, before it is deleted (nothing if missing)."""
    files.overwrite_secret(path)


def is_sealed(field: str) -> bool:
    return len(field) > ID_CHARS and field[ID_CHARS] == MARK


def unseal(home: Path, field: str) -> str:
    """The hash in the sealed ``field``, or "" when this process cannot open it (no key, another key, damage)."""
    key = _keys.get(_where(home))
    if key is None or not is_sealed(field):
        return ""
    text = field[ID_CHARS + 1 :]
    try:
        raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
        digest = ChaCha20Poly1305(key).decrypt(raw[:_NONCE], raw[_NONCE:], _AAD).hex()
    except (ValueError, InvalidTag):
        return ""
    return digest if digest[:ID_CHARS] == field[:ID_CHARS] else ""


#: The codes file's times (a code made, expiring, last used; a login's record ended) are kept to this many
#: seconds: they are readable without the passphrase, and a last use to the second lined up, for a seized device's
#: examiner, with a raid or a post's time (red team, round 14). Nothing needs more: expiry is checked against a
#: time kept to the hour too, and the login limits are counted in memory.
HOUR = 3600


def hour(moment: float) -> int:
    """``moment`` to the hour it falls in (down), as the codes file keeps it."""
    return int(moment) // HOUR * HOUR


def hour_after(moment: float) -> int:
    """``moment`` up to the next full hour (itself when it is one): a code's expiry, never before it was asked."""
    return -(-int(moment) // HOUR) * HOUR


#: Marks a record sealed with the node's key (``~``), or kept as it is on a plain node (``=``).
PLAIN = "="


def seal_data(home: Path, data: bytes, aad: bytes) -> str:
    """``data`` as the codes file keeps a record of a login's doings (web/operator_changes.py): ``~`` and
    base64url(nonce | ChaCha20-Poly1305) when this process holds the node's key, else ``=`` and base64url(data)
    (a plain node, whose every file is plain)."""
    key = _keys.get(_where(home))
    if key is None:
        return PLAIN + base64.urlsafe_b64encode(data).decode().rstrip("=")
    nonce = os.urandom(_NONCE)
    sealed = ChaCha20Poly1305(key).encrypt(nonce, data, aad)
    return MARK + base64.urlsafe_b64encode(nonce + sealed).decode().rstrip("=")


def unseal_data(home: Path, field: str, aad: bytes) -> bytes | None:
    """The data in ``field`` (:func:`seal_data`), or None when this process cannot open it (sealed and no key,
    another key, damage)."""
    text = field[1:]
    try:
        raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except ValueError:
        return None
    if field.startswith(PLAIN):
        return raw
    key = _keys.get(_where(home))
    if key is None or not field.startswith(MARK):
        return None
    try:
        return ChaCha20Poly1305(key).decrypt(raw[:_NONCE], raw[_NONCE:], aad)
    except (ValueError, InvalidTag):
        return None


def can_seal(home: Path) -> bool:
    """Whether this process holds the key of the node in ``home`` (it can seal and open its records)."""
    return _where(home) in _keys

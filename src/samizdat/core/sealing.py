"""One key per purpose from a node's data key, and small sealed blobs (the identity).

The data key that the key slots (:mod:`samizdat.store.vault`) protect is never used directly: each use gets its own
key, derived with HKDF-SHA256 (RFC 5869) from the data key and a label naming the purpose. So the event store, the
local state and the wrapped identity are under three independent keys, and a key that leaked from one part (say, a
database key left in a swap file) says nothing about the others or about the data key.

A sealed blob is ``magic (8) | nonce (12) | ChaCha20-Poly1305(key, plaintext, magic)`` : the magic is authenticated,
so a blob cannot be passed off as another kind. Pure: no files here (``config.py`` reads and writes them).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from samizdat.errors import UsageError

KEY_SIZE = 32
NONCE_SIZE = 12

#: HKDF labels, one per purpose. Changing one makes every existing node unreadable: add, never edit.
EVENTS_LABEL = b"samizdat/v1 events.sqlite"
LOCAL_LABEL = b"samizdat/v1 local.sqlite"
IDENTITY_LABEL = b"samizdat/v1 identity"
BLOBS_LABEL = b"samizdat/v1 blobs"


def subkey(data_key: bytes, label: bytes) -> bytes:
    """The 32-byte key for the purpose ``label``, derived from ``data_key`` (HKDF-SHA256, no salt)."""
    if len(data_key) != KEY_SIZE:
        raise ValueError("a data key has 32 bytes")
    return HKDF(algorithm=hashes.SHA256(), length=KEY_SIZE, salt=None, info=label).derive(data_key)


@dataclass(frozen=True)
class NodeKeys:
    """The keys an unlocked node works with, each derived from the data key for one purpose."""

    events: bytes = field(repr=False)  # database key of events.sqlite
    local: bytes = field(repr=False)  # database key of local.sqlite
    identity: bytes = field(repr=False)  # wraps the node's secret key (identity.sealed)
    blobs: bytes = field(default=b"", repr=False)  # the photo store's files, names and index (store/blobs.py)

    @classmethod
    def derive(cls, data_key: bytes) -> NodeKeys:
        return cls(
            subkey(data_key, EVENTS_LABEL),
            subkey(data_key, LOCAL_LABEL),
            subkey(data_key, IDENTITY_LABEL),
            subkey(data_key, BLOBS_LABEL),
        )


@dataclass(frozen=True)
class UnlockedKeys:
    """What an unlock gives the process that asked: the node's keys, and the decoy store's (``spare/``, which
    ``serve`` keeps in step). Both are as secret as each other while in memory: the decoy's open the store a
    duress passphrase would show, and its follows."""

    node: NodeKeys
    decoy: NodeKeys

    @classmethod
    def derive(cls, data_key: bytes, decoy_key: bytes) -> UnlockedKeys:
        return cls(NodeKeys.derive(data_key), NodeKeys.derive(decoy_key))


def seal(key: bytes, plaintext: bytes, magic: bytes) -> bytes:
    """``plaintext`` encrypted and authenticated under ``key``, tagged with the 8-byte ``magic``."""
    if len(magic) != 8:
        raise ValueError("a magic has 8 bytes")
    nonce = os.urandom(NONCE_SIZE)
    return magic + nonce + ChaCha20Poly1305(key).encrypt(nonce, plaintext, magic)


def unseal(key: bytes, blob: bytes, magic: bytes, what: str) -> bytes:
    """The plaintext of a :func:`seal` blob; raise :class:`UsageError` naming ``what`` if it is not one or was
    altered (a wrong key looks the same: the data key comes from the key slots, so it means damage)."""
    if len(blob) < len(magic) + NONCE_SIZE + 16 or blob[: len(magic)] != magic:
        raise UsageError(f"{what} is damaged or not a sealed file")
    nonce = blob[len(magic) : len(magic) + NONCE_SIZE]
    try:
        return ChaCha20Poly1305(key).decrypt(nonce, blob[len(magic) + NONCE_SIZE :], magic)
    except InvalidTag as exc:
        raise UsageError(f"{what} is damaged: it does not open with this node's key") from exc

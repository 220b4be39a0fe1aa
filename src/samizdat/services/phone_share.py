"""The hub's share of what a phone's browser keeps for it on plain HTTP.

Theory of operation. A hub on a building's Wi-Fi is reached as ``http://192.168.x.y:4848/``: no certificate can
be had for such an address, so the browser cannot tell the hub from any device that takes its address (a rogue
access point with the same Wi-Fi name, a neighbour answering ARP for it). Whoever answers there owns the origin,
and with it everything the browser kept for that origin: the reader's key, the channels they follow, the posts
they saved. So on a page that is not a secure context the app keeps its vault's own record (the data key, or
the PIN's slots) encrypted under a *share* that only the hub gives: :func:`share`, a keyed hash of a random
*handle* the browser keeps beside it, under the node's secret key. The handle alone opens nothing; a device
posing as the hub, or a phone taken away from the hub, gets the handle and the sealed record but not the share.

Blinded asks. A handle sent as it is would be the same on every visit of the phone: a hub taken over and kept
running as a trap (or anyone who reads the Wi-Fi's traffic, plain HTTP) could link the phone's visits by it, and
whoever saw the hub's answer on the air had the share itself. So a phone now asks blinded, as in an oblivious
pseudo-random function (2HashDH): its handle is 32 random bytes, it maps them to a point ``P`` of secp256k1 (try
and increment, below), sends ``B = r·P`` for a random ``r`` made for this ask only, and the hub answers
:func:`blinded` ``k·B`` under a scalar ``k`` derived from its secret key (:func:`oprf_key`: never the key itself,
which would make the hub an ECDH oracle for it). The phone takes ``r⁻¹·(k·B) = k·P`` and hashes it with the
handle into the share. ``B`` is a random point each time: the hub learns nothing it could tell a phone by, and
``k·B`` without ``r`` is not the share. A 16-byte handle is a record an earlier version sealed: it is answered
with :func:`share` (the keyed hash) once more, and the phone seals its record again under a blinded handle.

What it does not do: someone who holds the phone's data *and* can ask the real hub (on its Wi-Fi while it runs)
gets the share as the phone does; the browser has nothing it could prove itself with that a page at its origin
could not read too. The share is the node's key's: a node moved with ``samizdat keys export`` gives the same
shares; a wiped node, a new key or the decoy (after a duress passphrase) gives others, and what phones kept for
the hub stays closed (docs/safety.md, "Your phone").
"""

from __future__ import annotations

import hashlib
import hmac

import coincurve

from samizdat.core.keys import SecretKey

#: Bytes of a handle an earlier version made (asked as it is, :func:`share`).
HANDLE_BYTES = 16
#: Bytes of a blinded ask: a compressed secp256k1 point (:func:`blinded`).
BLINDED_BYTES = 33
_DOMAIN = b"samizdat phone share 1\x00"
_OPRF_LABEL = b"samizdat phone share oprf key 1"


def share(key: SecretKey, handle: bytes) -> bytes:
    """The 32-byte share of ``handle`` (exactly :data:`HANDLE_BYTES` bytes) under the node's ``key``."""
    if len(handle) != HANDLE_BYTES:
        raise ValueError(f"a handle is {HANDLE_BYTES} bytes")
    return hmac.new(key.secret, _DOMAIN + handle, hashlib.sha256).digest()


def oprf_key(key: SecretKey) -> bytes:
    """The scalar ``k`` of the blinded answers: derived from the node's secret key, never that key itself. Anyone
    on the Wi-Fi may ask for ``k·B`` with a point ``B`` of their choosing; were ``k`` the node's key, asking with
    the node's own public key (or a correspondent's) would hand out the ECDH secret that NIP-44 derives its
    conversation keys from, and with it the node's encrypted follows backup (core/private_list.py) to anyone."""
    order = coincurve.utils.GROUP_ORDER_INT
    scalar = int.from_bytes(hmac.new(key.secret, _OPRF_LABEL, hashlib.sha512).digest(), "big") % (order - 1) + 1
    return scalar.to_bytes(32, "big")


def blinded(key: SecretKey, point: bytes) -> bytes:
    """``k·B`` for a phone's blinded ask ``point`` (``B``, a compressed secp256k1 point, :data:`BLINDED_BYTES`
    bytes), under the scalar :func:`oprf_key` derives from the node's key, compressed. Raises ValueError when
    ``point`` is not a point of the curve (the phone made a mistake, or someone probes: neither gets an answer)."""
    if len(point) != BLINDED_BYTES or point[0] not in (2, 3):
        raise ValueError("a blinded ask is a compressed point")
    try:
        product: bytes = coincurve.PublicKey(point).multiply(oprf_key(key)).format(compressed=True)
    except (ValueError, TypeError) as exc:
        raise ValueError("a blinded ask is not a point of secp256k1") from exc
    return product


def answer(key: SecretKey, asked: bytes) -> bytes:
    """What the hub answers a phone that asks for its share: :func:`blinded` for a blinded ask, :func:`share` for
    an earlier version's handle. Raises ValueError for anything else."""
    return blinded(key, asked) if len(asked) == BLINDED_BYTES else share(key, asked)

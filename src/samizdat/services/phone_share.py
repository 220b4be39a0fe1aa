"""The hub's share of what a phone's browser keeps for it on plain HTTP.

Theory of operation. A hub on a building's Wi-Fi is reached as ``http://192.168.x.y:4848/``: no certificate can
be had for such an address, so the browser cannot tell the hub from any device that takes its address (a rogue
access point with the same Wi-Fi name, a neighbour answering ARP for it). Whoever answers there owns the origin,
and with it everything the browser kept for that origin: the reader's key, the channels they follow, the posts
they saved. So on a page that is not a secure context the app keeps its vault's own record (the data key, or
the PIN's slots) encrypted under a *share* that only the hub gives: :func:`share`, a keyed hash of a random
*handle* the browser keeps beside it, under the node's secret key. The handle alone opens nothing; a device
posing as the hub, or a phone taken away from the hub, gets the handle and the sealed record but not the share.

What it does not do: someone who holds the phone's data *and* can ask the real hub (on its Wi-Fi while it runs)
gets the share as the phone does; the browser has nothing it could prove itself with that a page at its origin
could not read too. The share is the node's key's: a node moved with ``samizdat keys export`` gives the same
shares; a wiped node, a new key or the decoy (after a duress passphrase) gives others, and what phones kept for
the hub stays closed (docs/safety.md, "Your phone").
"""

from __future__ import annotations

import hashlib
import hmac

from samizdat.core.keys import SecretKey

#: Bytes of a handle: random, made by the browser.
HANDLE_BYTES = 16
_DOMAIN = b"samizdat phone share 1\x00"


def share(key: SecretKey, handle: bytes) -> bytes:
    """The 32-byte share of ``handle`` (exactly :data:`HANDLE_BYTES` bytes) under the node's ``key``."""
    if len(handle) != HANDLE_BYTES:
        raise ValueError(f"a handle is {HANDLE_BYTES} bytes")
    return hmac.new(key.secret, _DOMAIN + handle, hashlib.sha256).digest()

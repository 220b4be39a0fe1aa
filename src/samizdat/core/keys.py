"""Key pairs: BIP-340 Schnorr over secp256k1, as Nostr uses them."""

from __future__ import annotations

import functools
import os
from collections.abc import Callable

import coincurve

from samizdat.errors import RemoteProtocolError, UsageError

# secp256k1 group order: a secret key must be in [1, N-1].
_N = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141


class SecretKey:
    """A secret key. Its ``repr`` never shows the secret."""

    __slots__ = ("_key", "public_key_hex")

    def __init__(self, secret: bytes) -> None:
        if len(secret) != 32 or not 0 < int.from_bytes(secret, "big") < _N:
            raise UsageError("a secret key is 32 bytes between 1 and the curve order")
        self._key = coincurve.PrivateKey(secret)
        self.public_key_hex: str = self._key.public_key_xonly.format().hex()

    @classmethod
    def generate(cls, random_bytes: Callable[[int], bytes] = os.urandom) -> SecretKey:
        while True:
            candidate = random_bytes(32)
            if 0 < int.from_bytes(candidate, "big") < _N:
                return cls(candidate)

    @classmethod
    def from_hex(cls, value: str) -> SecretKey:
        try:
            raw = bytes.fromhex(value)
        except ValueError as exc:
            raise UsageError("a secret key in hex is 64 hex characters") from exc
        return cls(raw)

    @property
    def secret(self) -> bytes:
        return bytes(self._key.secret)

    def sign(self, digest: bytes, aux_randomness: bytes | None = None) -> bytes:
        """BIP-340 signature of a 32-byte digest, with fresh auxiliary randomness unless given."""
        aux = os.urandom(32) if aux_randomness is None else aux_randomness
        return bytes(self._key.sign_schnorr(digest, aux))

    def __repr__(self) -> str:
        return f"SecretKey(public={self.public_key_hex[:12]}...)"


@functools.lru_cache(maxsize=16384)
def _xonly(pubkey_hex: str) -> coincurve.PublicKeyXOnly | None:
    """Parsed public keys, cached: a channel's few authors sign most of what a relay sees, and parsing a key
    costs a fifth of a verification."""
    try:
        return coincurve.PublicKeyXOnly(bytes.fromhex(pubkey_hex))
    except (ValueError, TypeError):
        return None


def verify_signature(pubkey_hex: str, sig_hex: str, digest: bytes) -> bool:
    """True when ``sig_hex`` is a valid BIP-340 signature of ``digest`` by ``pubkey_hex``.

    A public key that is not on the curve is reported as a bad signature, not an exception.
    """
    key = _xonly(pubkey_hex)
    if key is None:
        return False
    try:
        return bool(key.verify(bytes.fromhex(sig_hex), digest))
    except (ValueError, TypeError):
        return False


def check_pubkey(pubkey_hex: str) -> str:
    """Return ``pubkey_hex`` if it is a valid x-only public key, else raise RemoteProtocolError."""
    try:
        coincurve.PublicKeyXOnly(bytes.fromhex(pubkey_hex))
    except (ValueError, TypeError) as exc:
        raise RemoteProtocolError(f"{pubkey_hex[:16]}... is not a public key") from exc
    return pubkey_hex

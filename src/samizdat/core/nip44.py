"""NIP-44 version 2: encrypted payloads between two keys (here: the node's key to itself, for private lists).

Theory of operation: the conversation key is HKDF-extract(salt ``nip44-v2``) of the x coordinate of the ECDH
point (unhashed); each message draws a 32-byte nonce, expands the conversation key with it into a ChaCha20 key,
a ChaCha20 nonce and an HMAC key, pads the text to hide its exact length, encrypts it and MACs ``nonce ||
ciphertext``. The payload is base64 of ``0x02 || nonce || ciphertext || mac``.

Pure: the nonce comes from the caller's ``random_bytes`` (``os.urandom`` by default; tests pass the vectors'),
and nothing here does I/O. :func:`decrypt` raises :class:`~samizdat.errors.RemoteProtocolError` for any payload
that is not a valid version-2 message for this key (the text came from a relay), :func:`encrypt`
:class:`~samizdat.errors.LocalProtocolError` for a plaintext it cannot carry.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import os
from collections.abc import Callable

import coincurve
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms

from samizdat.errors import LocalProtocolError, RemoteProtocolError

VERSION = 2
SALT = b"nip44-v2"
MIN_PLAINTEXT = 1
#: Ours, far below the format's 4 GB: a private list of a few thousand channels is well under a megabyte.
MAX_PLAINTEXT = 4 * 1024 * 1024
EXTENDED_PREFIX = 65536  #: plaintexts this long or longer carry a 6-byte length prefix
_MIN_PAYLOAD = 132  # base64 characters of the shortest payload (1 + 32 + 34 + 32 bytes)
_MAX_PAYLOAD = (MAX_PLAINTEXT * 2 + 200) * 4 // 3


def conversation_key(secret: bytes, pubkey_hex: str) -> bytes:
    """The key two parties share: ``secret`` (32 bytes) with the x-only public key ``pubkey_hex``.

    Raises :class:`RemoteProtocolError` when the public key is not a point on the curve, and
    :class:`LocalProtocolError` when the secret is not a valid key."""
    try:
        point = coincurve.PublicKey(b"\x02" + bytes.fromhex(pubkey_hex))
    except (ValueError, TypeError) as exc:
        raise RemoteProtocolError(f"{pubkey_hex[:16]!r}... is not a public key") from exc
    try:
        shared = point.multiply(secret).format(compressed=True)[1:]
    except (ValueError, TypeError) as exc:
        raise LocalProtocolError("not a valid secret key") from exc
    return hmac.new(SALT, shared, hashlib.sha256).digest()  # HKDF-extract: HMAC(salt, IKM)


def _message_keys(conversation: bytes, nonce: bytes) -> tuple[bytes, bytes, bytes]:
    """HKDF-expand(conversation, info=nonce, 76 bytes) -> (chacha key, chacha nonce, hmac key)."""
    if len(conversation) != 32 or len(nonce) != 32:
        raise LocalProtocolError("a NIP-44 conversation key and nonce are 32 bytes each")
    okm, block = b"", b""
    for counter in range(1, 4):  # 3 blocks of 32 bytes cover 76
        block = hmac.new(conversation, block + nonce + bytes([counter]), hashlib.sha256).digest()
        okm += block
    return okm[:32], okm[32:44], okm[44:76]


def padded_length(length: int) -> int:
    """How long a plaintext of ``length`` bytes is once padded (without the length prefix)."""
    if length <= 32:
        return 32
    next_power = 1 << (length - 1).bit_length()
    chunk = 32 if next_power <= 256 else next_power // 8
    return chunk * ((length - 1) // chunk + 1)


def _pad(text: str) -> bytes:
    raw = text.encode("utf-8")
    if not MIN_PLAINTEXT <= len(raw) <= MAX_PLAINTEXT:
        raise LocalProtocolError(f"a NIP-44 plaintext is {MIN_PLAINTEXT} to {MAX_PLAINTEXT} bytes, not {len(raw)}")
    prefix = len(raw).to_bytes(2, "big") if len(raw) < EXTENDED_PREFIX else b"\0\0" + len(raw).to_bytes(4, "big")
    return prefix + raw + bytes(padded_length(len(raw)) - len(raw))


def _unpad(padded: bytes) -> str:
    length = int.from_bytes(padded[:2], "big")
    prefix = 2
    if length == 0:
        length, prefix = int.from_bytes(padded[2:6], "big"), 6
        if length < EXTENDED_PREFIX:
            raise RemoteProtocolError("the NIP-44 payload's padding is invalid")
    raw = padded[prefix : prefix + length]
    if length == 0 or len(raw) != length or len(padded) != prefix + padded_length(length):
        raise RemoteProtocolError("the NIP-44 payload's padding is invalid")
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise RemoteProtocolError("the NIP-44 plaintext is not UTF-8") from exc


def _chacha20(key: bytes, nonce: bytes, data: bytes) -> bytes:
    # cryptography's ChaCha20 takes a 16-byte nonce: a 4-byte little-endian counter (0, as NIP-44 says) and
    # the 12-byte RFC 8439 nonce.
    cipher = Cipher(algorithms.ChaCha20(key, b"\0\0\0\0" + nonce), mode=None).encryptor()
    return cipher.update(data) + cipher.finalize()


def encrypt(text: str, conversation: bytes, *, random_bytes: Callable[[int], bytes] = os.urandom) -> str:
    """The NIP-44 v2 payload of ``text`` under ``conversation`` (:func:`conversation_key`), with a fresh nonce
    from ``random_bytes``. Raises :class:`LocalProtocolError` for an empty or too long text."""
    nonce = random_bytes(32)
    chacha_key, chacha_nonce, hmac_key = _message_keys(conversation, nonce)
    ciphertext = _chacha20(chacha_key, chacha_nonce, _pad(text))
    mac = hmac.new(hmac_key, nonce + ciphertext, hashlib.sha256).digest()
    return base64.b64encode(bytes([VERSION]) + nonce + ciphertext + mac).decode("ascii")


def decrypt(payload: str, conversation: bytes) -> str:
    """The text of a NIP-44 v2 ``payload`` under ``conversation``. Raises :class:`RemoteProtocolError` for an
    unknown version, a malformed or oversized payload, a MAC that does not match (wrong key or altered), or bad
    padding."""
    if not payload or payload[0] == "#":
        raise RemoteProtocolError("the NIP-44 payload's encryption version is not supported")
    if not _MIN_PAYLOAD <= len(payload) <= _MAX_PAYLOAD:
        raise RemoteProtocolError("the NIP-44 payload's size is invalid")
    try:
        data = base64.b64decode(payload, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise RemoteProtocolError("the NIP-44 payload is not base64") from exc
    if len(data) < 99:
        raise RemoteProtocolError("the NIP-44 payload is too short")
    if data[0] != VERSION:
        raise RemoteProtocolError(f"NIP-44 version {data[0]} is not supported")
    nonce, ciphertext, mac = data[1:33], data[33:-32], data[-32:]
    chacha_key, chacha_nonce, hmac_key = _message_keys(conversation, nonce)
    if not hmac.compare_digest(hmac.new(hmac_key, nonce + ciphertext, hashlib.sha256).digest(), mac):
        raise RemoteProtocolError("the NIP-44 payload's MAC does not match: another key's, or altered")
    return _unpad(_chacha20(chacha_key, chacha_nonce, ciphertext))

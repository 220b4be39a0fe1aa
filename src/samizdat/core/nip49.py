"""NIP-49: a secret key encrypted with a password, as an ``ncryptsec`` bech32 string.

Theory of operation: ``scrypt(NFKC(password), salt, N = 2**log_n, r = 8, p = 1)`` gives a 32-byte key, and
XChaCha20-Poly1305 under that key (a 24-byte random nonce, the key security byte as associated data) encrypts the
32-byte secret key. The string is bech32 ``ncryptsec`` over ``version 0x02 | log_n | salt (16) | nonce (24) |
key security (1) | ciphertext + tag (48)``: 91 bytes.

``cryptography`` has ChaCha20-Poly1305 with a 12-byte nonce only, so XChaCha20 is built the standard way
(draft-irtf-cfrg-xchacha): :func:`hchacha20` turns the key and the nonce's first 16 bytes into a subkey, and
ChaCha20-Poly1305 runs under that subkey with the nonce ``0x00000000 | nonce[16:24]``. HChaCha20 is ChaCha20's
block function without the final addition, written here in pure Python (it runs once per export or import).

:func:`decrypt` raises :class:`~samizdat.errors.UsageError` with one sentence that never repeats the input.
"""

from __future__ import annotations

import hashlib
import os
import struct
import unicodedata
from collections.abc import Callable

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305

from samizdat.core import bech32
from samizdat.errors import UsageError

HRP = "ncryptsec"
VERSION = 0x02
#: scrypt's cost: 2**16 rounds take 64 MiB and about a tenth of a second (NIP-49's table); the floor for exports.
DEFAULT_LOG_N = 16
#: Refused when decrypting: 2**23 rounds need 8 GiB, more than a phone or laptop has; a string asking for more
#: would only exhaust memory.
MAX_LOG_N = 22
SALT_SIZE, NONCE_SIZE, KEY_SIZE = 16, 24, 32
PAYLOAD_SIZE = 2 + SALT_SIZE + NONCE_SIZE + 1 + KEY_SIZE + 16  # 91

#: The key security byte (NIP-49): known to have been handled insecurely, not known to, or not tracked.
KNOWN_INSECURE, NOT_KNOWN_INSECURE, UNTRACKED = 0x00, 0x01, 0x02

_SIGMA = struct.unpack("<4I", b"expand 32-byte k")
_MASK = 0xFFFFFFFF


def _rotl(value: int, count: int) -> int:
    return ((value << count) & _MASK) | (value >> (32 - count))


def _quarter(s: list[int], a: int, b: int, c: int, d: int) -> None:
    s[a] = (s[a] + s[b]) & _MASK
    s[d] = _rotl(s[d] ^ s[a], 16)
    s[c] = (s[c] + s[d]) & _MASK
    s[b] = _rotl(s[b] ^ s[c], 12)
    s[a] = (s[a] + s[b]) & _MASK
    s[d] = _rotl(s[d] ^ s[a], 8)
    s[c] = (s[c] + s[d]) & _MASK
    s[b] = _rotl(s[b] ^ s[c], 7)


def hchacha20(key: bytes, nonce16: bytes) -> bytes:
    """HChaCha20 (draft-irtf-cfrg-xchacha, section 2.2): a 32-byte subkey from a 32-byte key and 16 bytes."""
    if len(key) != KEY_SIZE or len(nonce16) != 16:
        raise ValueError("HChaCha20 takes a 32-byte key and a 16-byte nonce")
    state = [*_SIGMA, *struct.unpack("<8I", key), *struct.unpack("<4I", nonce16)]
    for _ in range(10):  # 20 rounds: a column round and a diagonal round each time
        _quarter(state, 0, 4, 8, 12)
        _quarter(state, 1, 5, 9, 13)
        _quarter(state, 2, 6, 10, 14)
        _quarter(state, 3, 7, 11, 15)
        _quarter(state, 0, 5, 10, 15)
        _quarter(state, 1, 6, 11, 12)
        _quarter(state, 2, 7, 8, 13)
        _quarter(state, 3, 4, 9, 14)
    return struct.pack("<8I", *state[0:4], *state[12:16])


def _xchacha(key: bytes, nonce: bytes) -> tuple[ChaCha20Poly1305, bytes]:
    return ChaCha20Poly1305(hchacha20(key, nonce[:16])), b"\x00\x00\x00\x00" + nonce[16:]


def xchacha20poly1305_encrypt(key: bytes, nonce: bytes, plaintext: bytes, associated: bytes) -> bytes:
    """XChaCha20-Poly1305: the ciphertext followed by its 16-byte tag."""
    aead, short = _xchacha(key, nonce)
    return aead.encrypt(short, plaintext, associated)


def xchacha20poly1305_decrypt(key: bytes, nonce: bytes, sealed: bytes, associated: bytes) -> bytes:
    """The plaintext; raises ``cryptography.exceptions.InvalidTag`` when the key or the data is wrong."""
    aead, short = _xchacha(key, nonce)
    return aead.decrypt(short, sealed, associated)


def normalize(password: str) -> bytes:
    """The password as NIP-49 feeds it to scrypt: NFKC, then UTF-8."""
    return unicodedata.normalize("NFKC", password).encode("utf-8")


def _scrypt(password: str, salt: bytes, log_n: int) -> bytes:
    n = 1 << log_n
    # scrypt needs 128 * r * N bytes; hashlib refuses anything over maxmem, so allow that and a little more.
    return hashlib.scrypt(normalize(password), salt=salt, n=n, r=8, p=1, maxmem=129 * 8 * n + (1 << 20), dklen=32)


def encrypt(
    secret: bytes,
    password: str,
    *,
    log_n: int = DEFAULT_LOG_N,
    key_security: int = UNTRACKED,
    random_bytes: Callable[[int], bytes] = os.urandom,
) -> str:
    """The ``ncryptsec`` of the 32-byte ``secret`` under ``password``. Raises UsageError for an empty password
    and ValueError for parameters out of range."""
    if len(secret) != KEY_SIZE:
        raise ValueError("a secret key is 32 bytes")
    if not 1 <= log_n <= MAX_LOG_N or key_security not in (KNOWN_INSECURE, NOT_KNOWN_INSECURE, UNTRACKED):
        raise ValueError("log_n or key_security out of range")
    if not password:
        raise UsageError("the export password is empty")
    salt, nonce = random_bytes(SALT_SIZE), random_bytes(NONCE_SIZE)
    security = bytes([key_security])
    sealed = xchacha20poly1305_encrypt(_scrypt(password, salt, log_n), nonce, secret, security)
    return bech32.encode(HRP, bytes([VERSION, log_n]) + salt + nonce + security + sealed)


def parse(text: str) -> tuple[int, int]:
    """(log_n, key security byte) of an ``ncryptsec``, checked for shape; UsageError otherwise."""
    payload = _payload(text)
    return payload[1], payload[2 + SALT_SIZE + NONCE_SIZE]


def _payload(text: str) -> bytes:
    hrp, payload = bech32.decode(text.strip())
    if hrp != HRP:
        raise UsageError("this is not an encrypted secret key (ncryptsec1...)")
    if len(payload) != PAYLOAD_SIZE or payload[0] != VERSION:
        raise UsageError("this ncryptsec is not of the version NIP-49 defines (0x02, 91 bytes)")
    if not 1 <= payload[1] <= MAX_LOG_N:
        raise UsageError(f"this ncryptsec asks for scrypt with 2^{payload[1]} rounds: more memory than allowed")
    return payload


def decrypt(text: str, password: str) -> bytes:
    """The 32-byte secret key in the ``ncryptsec`` ``text``. Raises UsageError for a malformed string or a wrong
    password (one sentence, without the input)."""
    payload = _payload(text)
    log_n = payload[1]
    salt = payload[2 : 2 + SALT_SIZE]
    nonce = payload[2 + SALT_SIZE : 2 + SALT_SIZE + NONCE_SIZE]
    security = payload[2 + SALT_SIZE + NONCE_SIZE : 3 + SALT_SIZE + NONCE_SIZE]
    sealed = payload[3 + SALT_SIZE + NONCE_SIZE :]
    try:
        key = _scrypt(password, salt, log_n)
    except (ValueError, MemoryError) as exc:  # hashlib could not get scrypt's 128 * 8 * 2**log_n bytes
        raise UsageError(
            f"this ncryptsec asks for scrypt with 2^{log_n} rounds ({(1 << log_n) // 1024} MiB of memory), more than "
            "this machine could give: open it on a machine with more memory"
        ) from exc
    try:
        return xchacha20poly1305_decrypt(key, nonce, sealed, security)
    except InvalidTag as exc:
        raise UsageError("wrong password for this ncryptsec (or the string is damaged)") from exc

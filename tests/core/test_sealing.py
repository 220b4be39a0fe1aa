"""One key per purpose from the data key (HKDF), and sealed blobs that tell damage from a wrong kind."""

from __future__ import annotations

import pytest

from samizdat.core.sealing import EVENTS_LABEL, IDENTITY_LABEL, LOCAL_LABEL, NodeKeys, seal, subkey, unseal
from samizdat.errors import UsageError

DATA_KEY = bytes(range(32))


def test_each_purpose_gets_its_own_key_and_the_same_one_every_time() -> None:
    keys = NodeKeys.derive(DATA_KEY)
    assert len({keys.events, keys.local, keys.identity, DATA_KEY}) == 4
    assert NodeKeys.derive(DATA_KEY) == keys
    assert keys.events == subkey(DATA_KEY, EVENTS_LABEL)
    assert NodeKeys.derive(bytes(32)).events != keys.events
    assert keys.local == subkey(DATA_KEY, LOCAL_LABEL)
    assert keys.identity == subkey(DATA_KEY, IDENTITY_LABEL)
    shown = repr(keys)
    assert all(k.hex() not in shown and repr(k) not in shown for k in (keys.events, keys.local, keys.identity))


def test_the_labels_derive_known_keys() -> None:
    from cryptography.hazmat.primitives import hashes, hmac

    # HKDF by hand (extract with a zero salt, one expand block) against the library's.
    mac = hmac.HMAC(bytes(32), hashes.SHA256())
    mac.update(DATA_KEY)
    prk = mac.finalize()
    expand = hmac.HMAC(prk, hashes.SHA256())
    expand.update(EVENTS_LABEL + b"\x01")
    assert subkey(DATA_KEY, EVENTS_LABEL) == expand.finalize()


def test_a_sealed_blob_opens_only_with_its_key_and_magic() -> None:
    key = NodeKeys.derive(DATA_KEY).identity
    blob = seal(key, b"secret", b"SMZTEST1")
    assert b"secret" not in blob
    assert unseal(key, blob, b"SMZTEST1", "the file") == b"secret"
    assert seal(key, b"secret", b"SMZTEST1") != blob  # a fresh nonce each time
    with pytest.raises(UsageError, match="the file is damaged"):
        unseal(bytes(32), blob, b"SMZTEST1", "the file")
    with pytest.raises(UsageError, match="not a sealed file"):
        unseal(key, blob, b"SMZOTHER", "the file")
    tampered = bytearray(blob)
    tampered[-1] ^= 1
    with pytest.raises(UsageError, match="damaged"):
        unseal(key, bytes(tampered), b"SMZTEST1", "the file")
    with pytest.raises(UsageError, match="damaged or not a sealed file"):
        unseal(key, blob[:20], b"SMZTEST1", "the file")

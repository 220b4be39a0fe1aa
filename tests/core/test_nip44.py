"""NIP-44 v2 against the vectors published in the NIP (the example and the extended-length checksums) and against
nostr-sdk both ways: our payloads open in nostr-sdk, theirs in ours."""

from __future__ import annotations

import base64
import hashlib

import nostr_sdk
import pytest

from samizdat.core import nip44
from samizdat.core.keys import SecretKey
from samizdat.errors import LocalProtocolError, RemoteProtocolError

SEC1 = bytes.fromhex("00" * 31 + "01")
SEC2 = bytes.fromhex("00" * 31 + "02")
CONVERSATION = bytes.fromhex("c41c775356fd92eadc63ff5a0dc1da211b268cbea22316767095b2871ea1412d")
NONCE = bytes.fromhex("00" * 31 + "01")
PAYLOAD = (
    "AgAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAABee0G5VSK0/9YypIObAtDKfYEAjD35uVkHyB0F4DwrcNaCXlCWZKaArsGrY6M9wnu"
    "TMxWfp1RTN9Xga8no+kF5Vsb"
)
# (plaintext length, padded length, sha256 of the plaintext, sha256 of the payload), from the NIP's table
EXTENDED = [
    (65535, 65536, "6e1bebca6a8229364a162a72ef064826c4cd7457bf54f190ef782bd9deff3e42",
     "6d8c2810d1e870fbaa1f0a0937126cca837a15f9260e27060c331d70a3c0bc84"),
    (65536, 65536, "bf718b6f653bebc184e1479f1935b8da974d701b893afcf49e701f3e2f9f9c5a",
     "b7b4edb36ba92e267d322d56d9aebc22e7fa96ff52e3c12adc07f07a43cbc616"),
    (65537, 81920, "008ffc88d3c96a9f307524eb361e47c5222a887fc45fa0c1fb8d429c5c23b430",
     "eeb7c7c5373894ea2c1547cfd3ccb15d5a0b2d619da852e5c79df792dcc9e435"),
]  # fmt: skip


def fixed(value: bytes):  # type: ignore[no-untyped-def]
    return lambda n: value[:n]


def test_the_nips_example_vector() -> None:
    pub2 = SecretKey(SEC2).public_key_hex
    assert nip44.conversation_key(SEC1, pub2) == CONVERSATION
    assert nip44.conversation_key(SEC2, SecretKey(SEC1).public_key_hex) == CONVERSATION  # symmetric
    assert nip44.encrypt("a", CONVERSATION, random_bytes=fixed(NONCE)) == PAYLOAD
    assert nip44.decrypt(PAYLOAD, CONVERSATION) == "a"


@pytest.mark.parametrize(("length", "padded", "text_sha", "payload_sha"), EXTENDED)
def test_the_extended_length_vectors(length: int, padded: int, text_sha: str, payload_sha: str) -> None:
    text = "a" * length
    assert hashlib.sha256(text.encode()).hexdigest() == text_sha
    assert nip44.padded_length(length) == padded
    payload = nip44.encrypt(text, CONVERSATION, random_bytes=fixed(NONCE))
    assert hashlib.sha256(payload.encode()).hexdigest() == payload_sha
    assert nip44.decrypt(payload, CONVERSATION) == text


@pytest.mark.parametrize(("length", "padded"), [(1, 32), (32, 32), (33, 64), (37, 64), (256, 256), (257, 320),
                                                 (1000, 1024), (65536, 65536)])  # fmt: skip
def test_padding(length: int, padded: int) -> None:
    assert nip44.padded_length(length) == padded


def test_a_wrong_key_an_altered_payload_and_garbage_are_refused() -> None:
    other = nip44.conversation_key(SEC1, SecretKey(bytes([9]) * 32).public_key_hex)
    with pytest.raises(RemoteProtocolError, match="MAC"):
        nip44.decrypt(PAYLOAD, other)
    raw = bytearray(base64.b64decode(PAYLOAD))
    raw[40] ^= 1
    with pytest.raises(RemoteProtocolError, match="MAC"):
        nip44.decrypt(base64.b64encode(bytes(raw)).decode(), CONVERSATION)
    for bad in ("", "#abc", "A" * 10, "!" * 200):
        with pytest.raises(RemoteProtocolError):
            nip44.decrypt(bad, CONVERSATION)
    raw[0] = 1
    with pytest.raises(RemoteProtocolError, match="version 1"):
        nip44.decrypt(base64.b64encode(bytes(raw)).decode(), CONVERSATION)
    with pytest.raises(LocalProtocolError):
        nip44.encrypt("", CONVERSATION)
    with pytest.raises(RemoteProtocolError):
        nip44.conversation_key(SEC1, "ff" * 32)  # not on the curve


def test_to_oneself_and_back_with_nostr_sdk_both_ways() -> None:
    me = SecretKey(bytes([5]) * 32)
    theirs = nostr_sdk.Keys.parse(me.secret.hex())
    text = '[["a","30333:' + "ab" * 32 + ':minsk","wss://r.example"],["a","30333:' + "cd" * 32 + ':гомель"]]'
    conversation = nip44.conversation_key(me.secret, me.public_key_hex)

    ours = nip44.encrypt(text, conversation)
    assert nostr_sdk.nip44_decrypt(theirs.secret_key(), theirs.public_key(), ours) == text

    sdk_payload = nostr_sdk.nip44_encrypt(theirs.secret_key(), theirs.public_key(), text, nostr_sdk.Nip44Version.V2)
    assert nip44.decrypt(sdk_payload, conversation) == text

    # between two keys too
    friend = SecretKey(bytes([6]) * 32)
    shared = nip44.conversation_key(me.secret, friend.public_key_hex)
    to_friend = nip44.encrypt("hello", shared)
    friend_sdk = nostr_sdk.Keys.parse(friend.secret.hex())
    assert nostr_sdk.nip44_decrypt(friend_sdk.secret_key(), nostr_sdk.PublicKey.parse(me.public_key_hex), to_friend) \
        == "hello"  # fmt: skip

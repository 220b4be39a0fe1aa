"""NIP-49 (``ncryptsec``): the spec's test vectors, HChaCha20's from draft-irtf-cfrg-xchacha, and interop with
nostr-sdk both ways."""

from __future__ import annotations

import pytest

from samizdat.core import bech32, nip49
from samizdat.errors import UsageError

SPEC_NCRYPTSEC = (
    "ncryptsec1qgg9947rlpvqu76pj5ecreduf9jxhselq2nae2kghhvd5g7dgjtcxfqtd67p9m0w57lspw8gsq6yphnm8623nsl8xn9j4jdzz84"
    "zm3frztj3z7s35vpzmqf6ksu8r89qk5z2zxfmu5gv8th8wclt0h4p"
)
SPEC_KEY = "3501454135014541350145413501453fefb02227e449e57cf4d3a3ce05378683"


def test_hchacha20_matches_the_draft_test_vector() -> None:
    # draft-irtf-cfrg-xchacha-03, section 2.2.1
    key = bytes(range(32))
    nonce = bytes.fromhex("000000090000004a0000000031415927")
    expected = "82413b4227b27bfed30e42508a877d73a0f9e4d58a74a853c12ec41326d3ecdc"
    assert nip49.hchacha20(key, nonce).hex() == expected


def test_the_spec_vector_decrypts_to_its_key() -> None:
    assert nip49.decrypt(SPEC_NCRYPTSEC, "nostr").hex() == SPEC_KEY
    assert nip49.parse(SPEC_NCRYPTSEC) == (16, nip49.KNOWN_INSECURE)


def test_passwords_are_nfkc_normalized() -> None:
    typed = "\u212b\u2126\u1e9b\u0323"
    assert nip49.normalize(typed) == bytes([0xC3, 0x85, 0xCE, 0xA9, 0xE1, 0xB9, 0xA9])
    secret = bytes(range(1, 33))
    sealed = nip49.encrypt(secret, typed)
    assert nip49.decrypt(sealed, "\u00c5\u03a9\u1e69") == secret


def test_a_round_trip_and_its_shape() -> None:
    secret = bytes(range(32, 64))
    sealed = nip49.encrypt(secret, "correct horse", key_security=nip49.NOT_KNOWN_INSECURE)
    assert sealed.startswith("ncryptsec1")
    assert nip49.parse(sealed) == (nip49.DEFAULT_LOG_N, nip49.NOT_KNOWN_INSECURE)
    assert nip49.decrypt(sealed, "correct horse") == secret
    assert nip49.encrypt(secret, "correct horse") != nip49.encrypt(secret, "correct horse")  # salt and nonce


@pytest.mark.parametrize(
    ("text", "sentence"),
    [
        (SPEC_NCRYPTSEC, "wrong password"),
        (bech32.encode("npub", bytes(32)), "not an encrypted secret key"),
        ("ncryptsec1qqqqqqqq", "ncryptsec"),
    ],
)
def test_bad_input_is_one_sentence_without_the_input(text: str, sentence: str) -> None:
    with pytest.raises(UsageError) as caught:
        nip49.decrypt(text, "not it")
    assert sentence in str(caught.value)
    assert text not in str(caught.value)


def test_a_string_asking_for_too_much_memory_is_refused_before_scrypt() -> None:
    _, payload = bech32.decode(SPEC_NCRYPTSEC)
    greedy = bech32.encode("ncryptsec", payload[:1] + bytes([40]) + payload[2:])
    with pytest.raises(UsageError, match="more memory than allowed"):
        nip49.decrypt(greedy, "nostr")


def test_interop_with_nostr_sdk_both_ways() -> None:
    sdk = pytest.importorskip("nostr_sdk")
    secret = bytes(range(7, 39))
    ours = nip49.encrypt(secret, "pässword")
    assert sdk.EncryptedSecretKey.from_bech32(ours).decrypt("pässword").to_hex() == secret.hex()
    theirs = sdk.EncryptedSecretKey(sdk.SecretKey.from_bytes(secret), "pässword", 16, sdk.KeySecurity.MEDIUM)
    assert nip49.decrypt(theirs.to_bech32(), "pässword") == secret
    assert nip49.parse(theirs.to_bech32())[1] == nip49.NOT_KNOWN_INSECURE

"""Bech32 and NIP-19: vectors from NIP-19 and BIP-173, round trips, and every way pasted text is bad."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from samizdat.core import bech32, nip19
from samizdat.core.keys import SecretKey
from samizdat.errors import RemoteProtocolError, UsageError

# -- vectors from NIP-19's text ------------------------------------------------------------------------------

NIP19_NPUBS = [
    (
        "3bf0c63fcb93463407af97a5e5ee64fa883d107ef9e558472c4eb9aaaefa459d",
        "npub180cvv07tjdrrgpa0j7j7tmnyl2yr6yr7l8j4s3evf6u64th6gkwsyjh6w6",
    ),
    (
        "7e7e9c42a91bfef19fa929e5fda1b72e0ebc1a4c1141673e2794234d86addf4e",
        "npub10elfcs4fr0l0r8af98jlmgdh9c8tcxjvz9qkw038js35mp4dma8qzvjptg",
    ),
]
NIP19_NSEC = (
    "67dea2ed018072d675f5415ecfaed7d2597555e202d85b3d65ea4e58d2d92ffa",
    "nsec1vl029mgpspedva04g90vltkh6fvh240zqtv9k0t9af8935ke9laqsnlfe5",
)
NIP19_NPROFILE = (
    "nprofile1qqsrhuxx8l9ex335q7he0f09aej04zpazpl0ne2cgukyawd24mayt8gpp4mhxue69uhhytnc9e3k7mgpz4mhxue69uhkg6nzv9ej"
    "uumpv34kytnrdaksjlyr9p"
)


@pytest.mark.parametrize(("hex_key", "npub"), NIP19_NPUBS)
def test_npub_vectors_both_ways(hex_key: str, npub: str) -> None:
    assert nip19.npub_encode(hex_key) == npub
    assert nip19.npub_decode(npub) == hex_key


def test_nsec_vector_both_ways() -> None:
    secret, nsec = NIP19_NSEC
    assert nip19.nsec_encode(secret) == nsec
    assert nip19.nsec_decode(nsec) == secret


def test_nprofile_vector_decodes_and_reencodes_identically() -> None:
    profile = nip19.nprofile_decode(NIP19_NPROFILE)
    assert profile == nip19.ProfilePointer(
        "3bf0c63fcb93463407af97a5e5ee64fa883d107ef9e558472c4eb9aaaefa459d",
        ("wss://r.x.com", "wss://djbas.sadkb.com"),
    )
    assert nip19.nprofile_encode(profile.pubkey, profile.relays) == NIP19_NPROFILE


def test_decode_dispatches_on_prefix_and_accepts_nostr_uri_and_whitespace() -> None:
    hex_key, npub = NIP19_NPUBS[0]
    assert nip19.decode(f"  nostr:{npub}\n") == ("npub", hex_key)
    assert nip19.decode(NIP19_NPROFILE)[0] == "nprofile"
    assert nip19.decode(npub.upper()) == ("npub", hex_key)  # QR codes use upper case


def test_parse_pubkey_accepts_hex_npub_and_nprofile() -> None:
    hex_key, npub = NIP19_NPUBS[0]
    assert nip19.parse_pubkey(hex_key) == hex_key
    assert nip19.parse_pubkey(hex_key.upper()) == hex_key
    assert nip19.parse_pubkey(npub) == hex_key
    assert nip19.parse_pubkey(NIP19_NPROFILE) == hex_key
    with pytest.raises(UsageError, match="secret key"):
        nip19.parse_pubkey(NIP19_NSEC[1])
    with pytest.raises(UsageError, match="npub or 64 hex"):
        nip19.parse_pubkey("alice")


# -- BIP-173 vectors for the bech32 layer --------------------------------------------------------------------


@pytest.mark.parametrize(
    "valid",
    [
        "A12UEL5L",
        "a12uel5l",
        "an83characterlonghumanreadablepartthatcontainsthenumber1andtheexcludedcharactersbio1tt5tgs",
        "abcdef1qpzry9x8gf2tvdw0s3jn54khce6mua7lmqqqxw",
        "split1checkupstagehandshakeupstreamerranterredcaperred2y9e3w",
        "?1ezyfcl",
    ],
)
def test_bip173_valid_strings(valid: str) -> None:
    hrp, data = bech32.decode(valid)
    assert bech32.encode(hrp, data) == valid.lower()


@pytest.mark.parametrize(
    ("invalid", "why"),
    [
        ("\x201nwldj5", "prefix"),  # hrp character out of range
        ("pzry9x0s0muk", "separator"),  # no separator
        ("1pzry9x0s0muk", "separator"),  # empty hrp
        ("x1b4n0q5v", "never uses"),  # invalid data character
        ("li1dgmt3", "too short"),  # checksum too short
        ("A1G7SGD8", "checksum"),  # checksum computed with an upper-case hrp
        ("a12UEL5L", "mixes"),  # mixed case
    ],
)
def test_bip173_invalid_strings(invalid: str, why: str) -> None:
    with pytest.raises(UsageError, match=why):
        bech32.decode(invalid)


def test_non_zero_padding_is_refused() -> None:
    # 32 bytes take 52 groups with 4 padding bits; set one of them and recompute a valid checksum.
    groups = bech32._to_5bit(bytes(32))
    groups[-1] |= 1
    text = "npub1" + "".join(bech32.CHARSET[g] for g in groups + bech32._checksum("npub", groups))
    with pytest.raises(UsageError, match="padding"):
        bech32.decode(text)


def test_length_cap_is_a_parameter_not_90() -> None:
    long = bech32.encode("naddr", bytes(300))  # far over BIP-173's 90 characters: NIP-19 allows it
    assert bech32.decode(long)[1] == bytes(300)
    with pytest.raises(UsageError, match="more than the 100 allowed"):
        bech32.decode(long, max_length=100)
    with pytest.raises(UsageError, match="more than the 5000 allowed"):
        bech32.decode("a1" + "q" * 5000)


# -- bad input a person might paste --------------------------------------------------------------------------


def test_one_mistyped_character_is_a_checksum_error() -> None:
    npub = NIP19_NPUBS[0][1]
    typo = npub[:20] + ("q" if npub[20] != "q" else "p") + npub[21:]
    with pytest.raises(UsageError, match="wrong checksum") as info:
        nip19.npub_decode(typo)
    assert str(info.value).count(".") <= 1  # one sentence


def test_truncated_code_is_refused() -> None:
    with pytest.raises(UsageError, match="checksum"):
        nip19.npub_decode(NIP19_NPUBS[0][1][:-3])


def test_errors_never_echo_a_secret_key() -> None:
    nsec = NIP19_NSEC[1]
    typo = nsec[:30] + ("q" if nsec[30] != "q" else "p") + nsec[31:]
    for attempt in (typo, nsec):
        with pytest.raises(UsageError) as info:
            nip19.npub_decode(attempt)
        assert nsec[5:15] not in str(info.value)
    with pytest.raises(UsageError, match="never share an nsec"):
        nip19.naddr_decode(nsec)


def test_wrong_prefix_names_both() -> None:
    with pytest.raises(UsageError, match="this is an npub code, but a note was expected"):
        nip19.note_decode(NIP19_NPUBS[0][1])
    with pytest.raises(UsageError, match="not supported"):
        nip19.decode(bech32.encode("lnbc", b"\x00"))


def test_error_class_can_be_remote_protocol_error() -> None:
    with pytest.raises(RemoteProtocolError, match="wrong checksum") as info:
        nip19.npub_decode(NIP19_NPUBS[0][1][:-1] + "q", error=RemoteProtocolError)
    assert info.value.reply.startswith("invalid: ")


def test_wrong_payload_length_and_off_curve_keys() -> None:
    with pytest.raises(UsageError, match="31 bytes instead of 32"):
        nip19.npub_decode(bech32.encode("npub", bytes(31)))
    with pytest.raises(UsageError, match="not a valid public key"):
        nip19.npub_decode(bech32.encode("npub", bytes(32)))  # x = 0 is not on the curve
    with pytest.raises(UsageError, match="not a valid public key"):
        nip19.npub_encode("00" * 32)
    with pytest.raises(UsageError, match="64 lowercase hex"):
        nip19.note_encode("xyz")


def _tlv_code(hrp: str, data: bytes) -> str:
    return bech32.encode(hrp, data)


PUB = bytes.fromhex(NIP19_NPUBS[0][0])


@pytest.mark.parametrize(
    ("hrp", "data", "why"),
    [
        ("nprofile", b"\x00\x20" + PUB[:10], "shorter than it says"),  # truncated value
        ("nprofile", b"\x00\x20" + PUB + b"\x01", "no length"),  # a type byte with no length
        ("nprofile", b"\x01\x03abc", "no public key"),  # relay only
        ("nprofile", b"\x00\x20" + PUB + b"\x00\x20" + PUB, "repeats"),
        ("nprofile", b"\x00\x10" + PUB[:16], "16 bytes instead of 32"),
        ("nprofile", b"\x00\x20" + PUB + b"\x01\x02\xff\xfe", "not ASCII"),
        ("nevent", b"\x00\x10" + PUB[:16], "event id is 16 bytes"),
        ("nevent", b"\x00\x20" + PUB + b"\x03\x02\x00\x01", "kind is 2 bytes"),
        ("naddr", b"\x00\x01x\x02\x20" + PUB, "no kind"),
        ("naddr", b"\x00\x01x\x03\x04\x00\x00\x75\x3d", "no author"),
        ("naddr", b"\x02\x20" + PUB + b"\x03\x04\x00\x00\x75\x3d", "no identifier"),
        ("naddr", b"\x00\x02\xc3\x28\x02\x20" + PUB + b"\x03\x04\x00\x00\x75\x3d", "not UTF-8"),
        ("naddr", b"\x00\x01x\x02\x20" + PUB + b"\x03\x04\xff\x00\x00\x00", "out of range"),
    ],
)
def test_malformed_tlv_is_refused(hrp: str, data: bytes, why: str) -> None:
    with pytest.raises(UsageError, match=why):
        nip19.decode(_tlv_code(hrp, data))


def test_unknown_tlv_types_are_ignored() -> None:
    data = b"\x00\x20" + PUB + b"\x07\x03xyz" + b"\x01\x0dwss://r.x.com"
    assert nip19.nprofile_decode(_tlv_code("nprofile", data)) == nip19.ProfilePointer(PUB.hex(), ("wss://r.x.com",))


def test_encoders_refuse_oversized_values() -> None:
    with pytest.raises(UsageError, match="at most 255 bytes"):
        nip19.naddr_encode(30333, PUB.hex(), "x" * 256)
    with pytest.raises(UsageError, match="printable ASCII"):
        nip19.nprofile_encode(PUB.hex(), ["wss://пример.рф"])
    with pytest.raises(UsageError, match="kind must be"):
        nip19.naddr_encode(70000, PUB.hex(), "x")


# -- round trips ---------------------------------------------------------------------------------------------

secret_keys = st.binary(min_size=32, max_size=32).filter(lambda b: 0 < int.from_bytes(b, "big") < 2**255)
pubkeys = secret_keys.map(lambda b: SecretKey(b).public_key_hex)
ids = st.binary(min_size=32, max_size=32).map(bytes.hex)
relays = st.lists(st.text(st.characters(min_codepoint=33, max_codepoint=126), min_size=1, max_size=60), max_size=4).map(
    tuple
)


@given(pubkeys)
def test_npub_round_trip(pubkey: str) -> None:
    assert nip19.npub_decode(nip19.npub_encode(pubkey)) == pubkey


@given(ids)
def test_note_and_nsec_round_trip(value: str) -> None:
    assert nip19.note_decode(nip19.note_encode(value)) == value
    assert nip19.nsec_decode(nip19.nsec_encode(value)) == value


@given(pubkeys, relays)
def test_nprofile_round_trip(pubkey: str, hints: tuple[str, ...]) -> None:
    assert nip19.nprofile_decode(nip19.nprofile_encode(pubkey, hints)) == nip19.ProfilePointer(pubkey, hints)


@given(ids, relays, st.none() | pubkeys, st.none() | st.integers(0, 65535))
def test_nevent_round_trip(event_id: str, hints: tuple[str, ...], author: str | None, kind: int | None) -> None:
    code = nip19.nevent_encode(event_id, hints, author=author, kind=kind)
    assert nip19.nevent_decode(code) == nip19.EventPointer(event_id, hints, author, kind)


@given(st.integers(0, 65535), pubkeys, st.text(max_size=60), relays)
def test_naddr_round_trip(kind: int, pubkey: str, identifier: str, hints: tuple[str, ...]) -> None:
    pointer = nip19.naddr_decode(nip19.naddr_encode(kind, pubkey, identifier, hints))
    assert pointer == nip19.AddressPointer(kind, pubkey, identifier, hints)
    assert pointer.address == f"{kind}:{pubkey}:{identifier}"


@given(st.binary(max_size=200))
def test_bech32_round_trip_any_bytes(data: bytes) -> None:
    assert bech32.decode(bech32.encode("x", data)) == ("x", data)


@given(st.text(max_size=120))
def test_decoding_garbage_raises_only_usage_error(text: str) -> None:
    try:
        nip19.decode(text)
    except UsageError:
        pass


# -- interoperability with an independent implementation -----------------------------------------------------


@pytest.mark.interop
def test_nostr_sdk_reads_our_naddr_and_nevent_and_we_read_theirs() -> None:
    nostr_sdk = pytest.importorskip("nostr_sdk")
    pubkey = NIP19_NPUBS[0][0]
    ours = nip19.naddr_encode(30333, pubkey, "minsk-frunzenski", ["wss://relay.example.org"])
    theirs = nostr_sdk.Nip19Coordinate.from_bech32(ours)
    assert theirs.coordinate().identifier() == "minsk-frunzenski"
    assert theirs.coordinate().public_key().to_hex() == pubkey
    assert theirs.coordinate().kind().as_u16() == 30333
    assert nip19.naddr_decode(theirs.to_bech32()) == nip19.naddr_decode(ours)
    event_id = "ab" * 32
    nevent = nip19.nevent_encode(event_id, ["wss://r.x.com"], author=pubkey, kind=2333)
    parsed = nostr_sdk.Nip19Event.from_bech32(nevent)
    assert parsed.event_id().to_hex() == event_id
    assert parsed.author().to_hex() == pubkey
    assert nip19.nevent_decode(parsed.to_bech32()).id == event_id

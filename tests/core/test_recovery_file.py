"""The recovery file's text: the definition sealed under the file's password, and files of the first version."""

from __future__ import annotations

import pytest

from samizdat.core import recovery_file as text

DEFINITION = b'{"kind":30333,"content":"","tags":[["name","Kastrychnitski night watch"],["r","wss://mirror.example"]]}'
NCRYPTSEC = "ncryptsec1qgg9947rlpvqu76pj5ecreduf9jxhselq2nae2kghhvd5g7dgjtcxfqtd67p9m0w57lspw8gsq6yphnm8623nsl8xn9j"


def made(password: str = "stick password") -> str:
    return text.render(NCRYPTSEC, DEFINITION, password, salt=bytes(range(16)), nonce=bytes(12))


def test_the_definition_is_sealed_and_opens_with_the_password_only() -> None:
    written = made()
    assert "Kastrychnitski" not in written
    assert "mirror.example" not in written
    assert "30333" not in written
    found = text.parse(written)
    assert found.sealed
    assert found.ncryptsec == NCRYPTSEC
    assert text.definition_json(found, "stick password").encode() == DEFINITION
    with pytest.raises(ValueError, match="does not open"):
        text.definition_json(found, "another password")


def test_a_file_of_the_first_version_is_read_as_it_is() -> None:
    old = f"# Samizdat recovery key for channel Night watch (30333:ab:nw)\n{NCRYPTSEC}\n{DEFINITION.decode()}\n"
    found = text.parse(old)
    assert not found.sealed
    assert text.definition_json(found, "any password") == DEFINITION.decode()


@pytest.mark.parametrize(
    "bad",
    ["", "hello\nworld\n", f"{NCRYPTSEC}\n", f"{NCRYPTSEC}\nplain words\n", f"npub1abc\n{text.SEALED}AAAA\n"],
)
def test_what_is_not_a_recovery_file_is_refused(bad: str) -> None:
    with pytest.raises(text.NotARecoveryFile):
        text.parse(bad)


def test_a_damaged_proof_is_refused_in_one_sentence() -> None:
    found = text.parse(made())
    damaged = text.RecoveryText(found.ncryptsec, found.definition[:-3] + ("A" if found.definition[-3] != "A" else "B")
                                + found.definition[-2:])  # fmt: skip
    with pytest.raises(ValueError, match="damaged"):
        text.definition_json(damaged, "stick password")
    with pytest.raises(ValueError, match="damaged"):
        text.definition_json(text.RecoveryText(NCRYPTSEC, text.SEALED + "AAAA"), "stick password")

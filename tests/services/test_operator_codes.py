"""An encrypted node's operator codes file keeps each code's hash sealed (services/operator_codes.py)."""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterator
from pathlib import Path

import pytest

from samizdat.core.sealing import NodeKeys
from samizdat.services import operator_codes
from samizdat.web import operator

KEYS = NodeKeys.derive(bytes(range(32)))


@pytest.fixture
def home(tmp_path: Path) -> Iterator[Path]:
    yield tmp_path
    operator_codes.forget(tmp_path)


def proof(digest: bytes, challenge: str) -> str:
    return hmac.new(digest, f"samizdat operator login {challenge}".encode(), hashlib.sha256).hexdigest()


def test_a_code_is_kept_sealed_and_logs_in_only_where_the_node_is_unlocked(home: Path) -> None:
    operator_codes.use(home, KEYS)
    token = operator.new_token(home)
    digest = hashlib.sha256(token.encode()).hexdigest()
    text = (home / operator.TOKENS_FILE).read_text()
    assert digest not in text
    assert text.startswith(digest[: operator.ID_CHARS] + "~")
    assert operator.code_by_proof(home, proof(bytes.fromhex(digest), "c1"), "c1") is not None

    operator_codes.forget(home)  # `samizdat web codes` and `logout`, which do not unlock the node
    (code,) = operator.list_codes(home)
    assert code.id == digest[: operator.ID_CHARS]
    assert code.digest == ""
    assert operator.code_by_proof(home, proof(bytes.fromhex(digest), "c2"), "c2") is None
    assert operator.code_by_proof(home, proof(b"", "c3"), "c3") is None  # an unknown hash is no empty key
    operator_codes.use(home, NodeKeys.derive(bytes(32)))  # another node's key (a decoy's) opens nothing
    assert operator.list_codes(home)[0].digest == ""


def test_codes_are_listed_and_revoked_without_the_key_and_the_others_stay_sealed(home: Path) -> None:
    operator_codes.use(home, KEYS)
    first, second = operator.new_token(home), operator.new_token(home)
    operator_codes.forget(home)
    revoked = operator.revoke_code(home, hashlib.sha256(first.encode()).hexdigest()[:6])
    assert revoked.id == hashlib.sha256(first.encode()).hexdigest()[: operator.ID_CHARS]
    operator_codes.use(home, KEYS)
    (left,) = operator.list_codes(home)
    assert left.digest == hashlib.sha256(second.encode()).hexdigest()
    assert operator.token_valid(home, second)
    assert not operator.token_valid(home, first)


def test_a_plain_nodes_codes_and_the_lines_of_before_are_read_as_they_are(home: Path) -> None:
    token = operator.new_token(home)  # no key: a node without a passphrase
    digest = hashlib.sha256(token.encode()).hexdigest()
    assert (home / operator.TOKENS_FILE).read_text().startswith(digest)
    operator_codes.use(home, KEYS)  # the same file, now read by an unlocked node
    assert operator.token_valid(home, token)
    operator.mark_used(home, digest, 1.0)  # the next write seals it
    assert digest not in (home / operator.TOKENS_FILE).read_text()
    assert operator.token_valid(home, token)

"""The follow list is never published; its backup is a NIP-51 list encrypted to the node's own key, written to
and read back from a real relay on loopback, readable by nostr-sdk with the same key and by no other key."""

from __future__ import annotations

import re
from pathlib import Path

import nostr_sdk
import pytest

import samizdat
from samizdat.core import kinds
from samizdat.core.filters import Filter
from samizdat.core.keys import SecretKey
from samizdat.core.private_list import read_follows_backup
from samizdat.errors import RemoteProtocolError, UsageError
from samizdat.services import follows
from samizdat.services.context import Context
from samizdat.testing import FakeClock, running_relay, test_node

OWNER_A, OWNER_B = SecretKey(bytes([21]) * 32).public_key_hex, SecretKey(bytes([22]) * 32).public_key_hex
CHANNEL_A = f"{kinds.CHANNEL}:{OWNER_A}:minsk-news"
CHANNEL_B = f"{kinds.CHANNEL}:{OWNER_B}:gomel"
VERIFIER = SecretKey(bytes([23]) * 32).public_key_hex


async def test_backup_and_restore_round_trip(ctx: Context, tmp_path: Path, fake_clock: FakeClock) -> None:
    async with running_relay(tmp_path) as relay:
        ctx.local.follow(CHANNEL_A, ["wss://mirror.example"], ctx.clock())
        ctx.local.follow(CHANNEL_B, [], ctx.clock())
        ctx.local.follow_verifier(VERIFIER, ctx.clock())
        done = await follows.backup(ctx, relay.url)
        assert (done["channels"], done["verifiers"]) == (2, 1)

        # What the relay holds says nothing about what is followed.
        held = await relay.store.query([Filter(authors=frozenset({ctx.pubkey}))])
        assert [e.kind for e in held] == [kinds.BOOKMARKS]
        backup = held[0]
        assert backup.tags == ()
        for secret in ("minsk-news", OWNER_A, OWNER_B, VERIFIER, "mirror.example"):
            assert secret not in backup.to_json().decode()
        # nostr-sdk with the same key reads the NIP-51 private items; another key cannot.
        keys = nostr_sdk.Keys.parse(ctx.key.secret.hex())
        items = nostr_sdk.nip44_decrypt(keys.secret_key(), keys.public_key(), backup.content)
        assert CHANNEL_A in items
        with pytest.raises(RemoteProtocolError):
            read_follows_backup(SecretKey(bytes([3]) * 32), backup)

        # The same key on a new node (a replacement phone) gets the follows back.
        phone = tmp_path / "new-phone"
        phone.mkdir()
        (phone / "identity.key").write_text(ctx.key.secret.hex())
        (phone / "identity.key").chmod(0o600)
        async with test_node(tmp_path / "new-phone", clock=fake_clock, sleep=fake_clock.sleep) as fresh:
            assert fresh.ctx.pubkey == ctx.pubkey
            restored = await follows.restore(fresh.ctx, relay.url)
            assert (restored["added"], restored["skipped"]) == (3, 0), restored
            assert fresh.ctx.local.follows() == {CHANNEL_A: ["wss://mirror.example"], CHANNEL_B: []}
            assert fresh.ctx.local.verifiers() == [VERIFIER]


async def test_restore_without_a_backup_says_so(ctx: Context, tmp_path: Path) -> None:
    async with running_relay(tmp_path) as relay:
        with pytest.raises(UsageError, match="holds no follows backup of this node's key"):
            await follows.restore(ctx, relay.url)


def test_nothing_publishes_a_follow_list() -> None:
    """No code signs a kind-3 contact list or any list of follows but the encrypted backup: the follow list
    exists in the node's local state only."""
    source = Path(samizdat.__file__).parent
    offenders = []
    for path in source.rglob("*.py"):
        text = path.read_text(encoding="utf-8")
        if re.search(r"kinds\.CONTACTS|sign_event\([^)]*,\s*3\s*,", text):
            offenders.append(str(path.relative_to(source)))
        if "local.follows()" in text and re.search(r"\.publish(_many)?\(|sign_event\(|\.enqueue\(", text):
            offenders.append(f"{path.relative_to(source)} (reads follows where it publishes)")
    allowed = {"services/follows.py (reads follows where it publishes)"}  # the encrypted backup, only
    assert set(offenders) <= allowed, offenders

"""Red team, the owner key seized and a definition backdated, in a real Chromium against a real ``samizdat serve``:
the police, holding the owner key, sign a definition naming a recovery key of theirs dated before the real one, and
a claim by that key pointing at a channel of theirs; the real recovery key's claim arrives too. A new phone (it
never read the channel) that trusts a verifier who vouched for the channel before the seizure, naming the real
recovery key, says the owner key was seized and leads to the real new channel. A new phone that trusts no verifier
is still led to the police's (docs/safety.md, "When the owner's key is seized": not handled)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any, NamedTuple

import pytest
from web_helpers import PHONE, Cli, publish

from samizdat.core import nip19
from samizdat.core.channel import Channel, build_channel_event, parse_channel, rebuild_channel
from samizdat.core.display import fingerprint
from samizdat.core.event import Event
from samizdat.core.keys import SecretKey
from samizdat.core.posts import build_post, build_vouch
from samizdat.core.recovery import build_claim

pytest.importorskip("playwright")
from playwright.sync_api import expect

NAME = "Block 7 yard"
FAKE = "Everyone to the square at 18:00, bring flags"


class Seizure(NamedTuple):
    """A channel that names its recovery key, a verifier's vouch for it before the seizure, the police's newer
    definition (with the owner key) naming their own recovery key, and the owner's real claim from the recovery
    file pointing at the new channel. ``keys``: owner, recovery, new_owner, verifier, police_recovery,
    police_owner."""

    keys: tuple[SecretKey, SecretKey, SecretKey, SecretKey, SecretKey, SecretKey]
    first: Event
    channel: Channel
    vouch: Event
    theirs: Event
    successor: Channel
    claim: Event


def seizure(now: int) -> Seizure:
    owner, recovery, new_owner, verifier, police_recovery, police_owner = (SecretKey.generate() for _ in range(6))
    first = build_channel_event(owner, "yard", NAME, created_at=now - 600, geohash="u9edp2",
                                recovery=recovery.public_key_hex)  # fmt: skip
    channel = parse_channel(first)
    vouch = build_vouch(verifier, channel, "We met the admins", created_at=now - 550)  # names the real key
    theirs = rebuild_channel(owner, channel, created_at=now - 100, recovery=police_recovery.public_key_hex)
    successor = parse_channel(build_channel_event(new_owner, "yard", NAME, created_at=now - 60, geohash="u9edp2"))
    claim = build_claim(recovery, first, successor.address, since=now - 300, created_at=now - 50)
    keys = (owner, recovery, new_owner, verifier, police_recovery, police_owner)
    return Seizure(keys, first, channel, vouch, theirs, successor, claim)


def test_a_new_phone_trusting_a_verifier_follows_the_real_claim_not_the_backdated_one(
    tmp_path: Path, module_serve: Any, browser: Any, context: Any
) -> None:
    cli = Cli(tmp_path / "home")
    cli.ok("init")
    node = module_serve(cli.home)
    now = int(time.time())
    scene = seizure(now)  # the verifier's vouch is from before the seizure
    owner, recovery, new_owner, verifier, police_recovery, police_owner = scene.keys
    first, channel, vouch, theirs = scene.first, scene.channel, scene.vouch, scene.theirs
    assert ["recovery", recovery.public_key_hex] in [list(t) for t in vouch.tags]
    water = build_post(owner, channel, "news", "The water is back on", created_at=now - 500)
    # The police, with the owner key: a newer definition and a backdated one naming their key, a fake, their claim.
    fake = build_post(owner, channel, "news", FAKE, created_at=now - 200)
    backdated = build_channel_event(owner, "yard", NAME, created_at=now - 700, geohash="u9edp2",
                                    recovery=police_recovery.public_key_hex)  # fmt: skip
    police_channel = parse_channel(build_channel_event(police_owner, "yard", NAME, created_at=now - 90))
    police_claim = build_claim(police_recovery, backdated, police_channel.address, since=now - 650,
                               created_at=now - 80)  # fmt: skip
    # The owner's real claim, from the recovery file kept elsewhere, and the new channel.
    successor, claim = scene.successor, scene.claim
    publish(node.url, [first, vouch, water, theirs, fake, police_channel.event, police_claim, successor.event, claim])

    page = context.new_page()
    page.goto(f"{node.http_url}#/keys")
    page.fill("[name=verifier]", nip19.npub_encode(verifier.public_key_hex))
    page.click("text=Add")
    expect(page.locator(".verifiers li")).to_have_count(1)
    page.goto(f"{node.http_url}#/c/{channel.address}")
    warning = page.locator("#seized")
    expect(warning).to_contain_text("owner key was seized")
    expect(warning).to_contain_text(fingerprint(new_owner.public_key_hex))
    expect(warning).not_to_contain_text(fingerprint(police_owner.public_key_hex))
    expect(page.locator(".feed")).not_to_contain_text(FAKE)

    # Not handled: a new phone that trusts no verifier honours the oldest definition naming a key, the police's.
    loner = browser.new_context(locale="en-US", **PHONE)
    try:
        loner.set_default_timeout(20_000)
        other = loner.new_page()
        other.goto(f"{node.http_url}#/c/{channel.address}")
        expect(other.locator("#seized")).to_contain_text(fingerprint(police_owner.public_key_hex))
    finally:
        loner.close()

"""Red team round 7 in a real Chromium against a real ``samizdat serve`` (docs/safety.md, "Red team, round 7").

- A phone that follows a channel remembers the first recovery key it saw it name: here the police's (they hold the
  owner key and published a definition naming theirs before the phone first opened the channel). A verifier the
  phone trusts vouched for the channel before the seizure naming the real key, and the real claim arrives: the
  phone said nothing of it, and followed the police's claim as if nobody disagreed.
- Two channels whose names are a letter apart were both said to "have this name"."""

from __future__ import annotations

import asyncio
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from test_vouched_recovery_browser import seizure
from web_helpers import Cli, publish

from samizdat.core import kinds, nip19
from samizdat.core.channel import build_channel_event, parse_channel
from samizdat.core.display import fingerprint
from samizdat.core.keys import SecretKey
from samizdat.core.posts import build_label, build_post, build_vouch
from samizdat.core.recovery import build_claim
from samizdat.node import Node
from samizdat.testing import node_keys

pytest.importorskip("playwright")
from playwright.sync_api import expect

NAME = "Block 7 yard"


def test_a_phone_that_remembered_the_police_key_is_told_a_trusted_verifier_names_another(
    tmp_path: Path, module_serve: Any, context: Any
) -> None:
    cli = Cli(tmp_path / "home")
    cli.ok("init")
    node = module_serve(cli.home)
    now = int(time.time())
    scene = seizure(now)
    _, recovery, new_owner, verifier, police_recovery, police_owner = scene.keys
    channel, vouch = scene.channel, scene.vouch
    # The police, with the owner key, name their recovery key in a newer definition: all this phone ever sees.
    theirs = scene.theirs
    publish(node.url, [theirs])

    page = context.new_page()
    page.goto(f"{node.http_url}#/c/{channel.address}")
    page.click("#follow")
    expect(page.locator("#follow")).to_have_text("Unfollow")
    page.wait_for_function(  # the phone remembers the recovery key it saw: the police's
        "k => Object.values(self.samizdatApp?.state?.state.recoveryKeys || {}).includes(k)",
        arg=police_recovery.public_key_hex,
    )

    # Then: the police's claim, the real one from the recovery file, and the vouch of a verifier the phone trusts.
    police_channel = parse_channel(build_channel_event(police_owner, "yard", NAME, created_at=now - 90))
    police_claim = build_claim(police_recovery, theirs, police_channel.address, since=now - 650, created_at=now - 80)
    successor, claim = scene.successor, scene.claim
    publish(node.url, [vouch, police_channel.event, police_claim, successor.event, claim])
    page.goto(f"{node.http_url}#/keys")
    page.fill("[name=verifier]", nip19.npub_encode(verifier.public_key_hex))
    page.click("text=Add")
    expect(page.locator(".verifiers li")).to_have_count(1)

    page.goto(f"{node.http_url}#/c/{channel.address}")
    warning = page.locator("#seized")
    # Not switched by a vouch: the claim of the key the phone remembered is the one followed...
    expect(warning.locator("p").first).to_contain_text("owner key was seized")
    expect(warning.locator("p").first).to_contain_text(fingerprint(police_owner.public_key_hex))
    # ...but the phone says, first, that a verifier it trusts names another key, and where that key points.
    expect(warning).to_contain_text("Recovery keys disagree")
    expect(warning).to_contain_text(fingerprint(police_recovery.public_key_hex))
    expect(warning).to_contain_text(fingerprint(recovery.public_key_hex))
    expect(warning).to_contain_text(nip19.npub_encode(verifier.public_key_hex))
    expect(warning).to_contain_text(fingerprint(new_owner.public_key_hex))
    # The channel's card says so too, before its name.
    page.goto(node.http_url)
    page.fill("#search", "Block 7")
    card = page.locator(f'.channel[data-address="{channel.address}"]')
    expect(card.locator(".warning.seized")).to_contain_text("Recovery keys disagree")


def test_names_a_letter_apart_are_not_said_to_be_the_same_name(tmp_path: Path, module_serve: Any, context: Any) -> None:
    cli = Cli(tmp_path / "home")
    cli.ok("init")
    node = module_serve(cli.home)
    owner, police = SecretKey.generate(), SecretKey.generate()
    now = int(time.time())
    real = build_channel_event(owner, "frunzenski", "Фрунзенский район", place="BY/Minsk/Frunzenski",
                               created_at=now - 120)  # fmt: skip
    fake = build_channel_event(police, "frunzenski", "Фрунзеский район", place="BY/Minsk", created_at=now - 60)
    publish(node.url, [real, fake])

    page = context.new_page()
    page.goto(f"{node.http_url}#/c/{kinds.CHANNEL}:{police.public_key_hex}:frunzenski")
    warning = page.locator(".warning.collision").first
    expect(warning).to_contain_text("Another channel has a name like this one")
    expect(warning).not_to_contain_text("has this name")
    expect(warning).to_contain_text(fingerprint(owner.public_key_hex))


def test_verifiers_vouching_for_two_channels_named_alike_are_said_to_disagree(
    tmp_path: Path, module_serve: Any, context: Any
) -> None:
    """One verifier the phone trusts vouches for the real channel, another (fooled, or its key in other hands)
    for the police's copy of the same name: both said "Not the channel your verifiers vouch for"."""
    cli = Cli(tmp_path / "home")
    cli.ok("init")
    node = module_serve(cli.home)
    owner, police, honest, fooled = (SecretKey.generate() for _ in range(4))
    now = int(time.time())
    real = parse_channel(build_channel_event(owner, "yard", NAME, place="BY/Minsk", created_at=now - 120))
    fake = parse_channel(build_channel_event(police, "yard", NAME, place="BY/Minsk", created_at=now - 60))
    publish(node.url, [real.event, fake.event, build_vouch(honest, real, "Met them", created_at=now - 30),
                       build_vouch(fooled, fake, "Met them", created_at=now - 30)])  # fmt: skip

    page = context.new_page()
    page.goto(f"{node.http_url}#/keys")
    for added, verifier in enumerate((honest, fooled), start=1):
        page.fill("[name=verifier]", nip19.npub_encode(verifier.public_key_hex))
        page.click("text=Add")
        expect(page.locator(".verifiers li")).to_have_count(added)  # the list is drawn anew: then the next
    for mine, other in ((real, fake), (fake, real)):
        page.goto(f"{node.http_url}#/c/{mine.address}")
        warning = page.locator(".warning.collision").first
        expect(warning).to_contain_text("Your verifiers disagree")
        expect(warning).to_contain_text(fingerprint(other.owner))
        expect(warning).not_to_contain_text("Not the channel")


def test_a_verifier_is_listed_with_its_fingerprint(tmp_path: Path, module_serve: Any, context: Any) -> None:
    """A verifier's npub handed on by someone else can be a key ground to share its first and last letters with the
    real verifier's: the list shows the 20-digit fingerprint to compare, as channels' owner keys have."""
    cli = Cli(tmp_path / "home")
    cli.ok("init")
    node = module_serve(cli.home)
    verifier = SecretKey.generate()
    page = context.new_page()
    page.goto(f"{node.http_url}#/keys")
    page.fill("[name=verifier]", nip19.npub_encode(verifier.public_key_hex))
    page.click("text=Add")
    expect(page.locator(".verifiers li")).to_contain_text(fingerprint(verifier.public_key_hex))


async def _ingest(home: Path, events: list[Any]) -> None:
    """Into the node's store before it serves (quicker than publishing thousands; a flooder could as well)."""
    node = await Node.open(home, keys=node_keys(home))
    try:
        await node.ctx.ingest(events)
    finally:
        await node.close()


def test_one_verifiers_flood_of_labels_does_not_hide_anothers(tmp_path: Path, module_serve: Any, context: Any) -> None:
    """A verifier the phone trusts (its key in the police's hands) labels posts 5,100 times: the channel's page asked
    for the newest 5,000 labels of all its verifiers together, and an honest verifier's "false" on the police's
    fake post never reached the phone."""
    cli = Cli(tmp_path / "home")
    cli.ok("init")
    owner, honest, flooder = (SecretKey.generate() for _ in range(3))
    now = int(time.time())
    channel = parse_channel(build_channel_event(owner, "yard", NAME, created_at=now - 20_000))
    fake = build_post(owner, channel, "news", "Everyone to the square at 18:00", created_at=now - 15_000)
    false = build_label(honest, fake, "false", "Nobody called for this", created_at=now - 10_000)
    flood = [build_label(flooder, fake, "confirmed", created_at=now - 6_000 + i) for i in range(5_100)]
    with ThreadPoolExecutor(1) as pool:  # the browser's fixtures hold this thread's event loop
        pool.submit(asyncio.run, _ingest(cli.home, [channel.event, fake, false, *flood])).result()
    node = module_serve(cli.home)

    page = context.new_page()
    page.goto(f"{node.http_url}#/keys")
    for added, verifier in enumerate((honest, flooder), start=1):
        page.fill("[name=verifier]", nip19.npub_encode(verifier.public_key_hex))
        page.click("text=Add")
        expect(page.locator(".verifiers li")).to_have_count(added)  # the list is drawn anew: then the next
    page.goto(f"{node.http_url}#/c/{channel.address}")
    expect(page.locator(".feed")).to_contain_text("Everyone to the square")
    expect(page.locator(".feed")).to_contain_text("false, says", timeout=30_000)


def test_one_verifiers_flood_of_vouches_does_not_push_out_anothers(
    tmp_path: Path, module_serve: Any, context: Any
) -> None:
    """A verifier the phone trusts (its key in the police's hands) vouches 5,100 times for a copy of a channel
    another trusted verifier vouches for: the phone asked for the newest 5,000 vouches of all its verifiers
    together, lost the honest one's, and said of the real channel "Not the channel your verifiers vouch for"."""
    cli = Cli(tmp_path / "home")
    cli.ok("init")
    owner, police, honest, flooder = (SecretKey.generate() for _ in range(4))
    now = int(time.time())
    real = parse_channel(build_channel_event(owner, "yard", NAME, place="BY/Minsk", created_at=now - 20_000))
    fake = parse_channel(build_channel_event(police, "yard", NAME, place="BY/Minsk", created_at=now - 19_000))
    vouch = build_vouch(honest, real, "Met them", created_at=now - 10_000)
    flood = [build_vouch(flooder, fake, "Trust me", created_at=now - 6_000 + i) for i in range(5_100)]
    with ThreadPoolExecutor(1) as pool:  # the browser's fixtures hold this thread's event loop
        pool.submit(asyncio.run, _ingest(cli.home, [real.event, fake.event, vouch, *flood])).result()
    node = module_serve(cli.home)

    page = context.new_page()
    page.goto(f"{node.http_url}#/keys")
    for verifier in (flooder, honest):  # the flooder first: the honest one's vouch comes with both at once
        page.fill("[name=verifier]", nip19.npub_encode(verifier.public_key_hex))
        page.click("text=Add")
        expect(page.locator(".verifiers")).to_contain_text(fingerprint(verifier.public_key_hex))
    page.reload()  # a new start: the vouches of both verifiers asked for at once
    page.goto(node.http_url)
    page.fill("#search", "Block 7")
    warning = page.locator(f'.channel[data-address="{real.address}"] .warning.collision')
    expect(warning).to_contain_text("Your verifiers disagree", timeout=30_000)
    expect(warning).not_to_contain_text("Not the channel")

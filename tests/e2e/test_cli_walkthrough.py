"""The README's "A first channel, step by step", as a new user types it, in real processes.

Each step checks what the user would notice: what is printed, what the feed then shows. A co-admin and a
verifier are other people with data directories of their own, and their events reach the owner by the two
routes the README offers: the co-admin's by bundle files (``samizdat export`` on one side, ``samizdat import``
on the other, as on a USB stick during a blackout), the verifier's by ``samizdat sync`` with the owner's running
node (NIP-77).
"""

from __future__ import annotations

import shlex
import time
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from websockets.sync.client import connect

from samizdat.core import kinds, nip19
from samizdat.core.event import sign_event
from samizdat.core.keys import SecretKey

if TYPE_CHECKING:
    from conftest import Cli, ServeProcess

README = Path(__file__).resolve().parents[2] / "README.md"
CHANNEL = "frunzenski"
CREATE = (
    "channel", "create", CHANNEL, "--name", "Frunzenski district", "--about", "News for the district",
    "--lang", "ru", "--place", "BY/Minsk/Frunzenski", "--lat", "53.905", "--lon", "27.48",
)  # fmt: skip


FEED_FIELDS = {
    "channel", "channel_name", "created_at", "id", "author", "role", "type", "status", "reason", "subject", "text",
    "fields", "corrected", "corrections", "retraction", "labels",
}  # fmt: skip


def by_id(feed: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {item["id"]: item for item in feed}


def published(result: dict[str, Any]) -> str:
    (event_id,) = result["ids"]
    assert len(event_id) == 64
    return str(event_id)


def new_channel(cli: Cli) -> dict[str, Any]:
    cli.ok("init")
    return dict(cli.json(*CREATE))


# -- identity and the channel ----------------------------------------------------------------------------------


def test_init_keys_and_a_new_channel(cli: Cli) -> None:
    first = cli.ok("init")
    assert "Created" in first.out
    npub = next(word for word in first.out.split() if word.startswith("npub1"))
    again = cli.ok("init")  # idempotent: the same identity, not a new one
    assert "Already set up" in again.out
    assert npub in again.out
    assert (cli.home / "identity.key").stat().st_mode & 0o077 == 0  # the secret key is the owner's alone

    keys = cli.json("keys", "show")
    assert keys["npub"] == npub
    assert nip19.npub_decode(npub) == keys["pubkey"]
    shown = cli.ok("keys", "show").out
    assert npub in shown
    assert "█" in shown  # the QR code a co-admin scans

    channel = cli.json(*CREATE)
    address = f"{kinds.CHANNEL}:{keys['pubkey']}:{CHANNEL}"
    assert channel["address"] == address
    pointer = nip19.naddr_decode(channel["naddr"])
    assert (pointer.kind, pointer.pubkey, pointer.identifier) == (kinds.CHANNEL, keys["pubkey"], CHANNEL)
    assert pointer.address == address
    assert channel["name"] == "Frunzenski district"
    assert channel["about"] == "News for the district"
    assert channel["languages"] == ["ru"]
    assert channel["place"] == "BY/Minsk/Frunzenski"
    assert channel["geohash"].startswith("u9ed")  # Minsk, from --lat/--lon
    assert channel["owner"] == npub
    assert channel["admins"] == []
    assert channel["mirrors"] == []
    assert channel["pending"] == []  # no mirrors: nothing waits to be delivered

    text = cli.ok("channel", "show", CHANNEL).out
    for expected in ("Frunzenski district", f"Owner: {npub}", "BY/Minsk/Frunzenski", channel["naddr"], "█"):
        assert expected in text
    # The naddr, the address and the short id all name the same channel.
    assert cli.json("channel", "show", channel["naddr"])["address"] == address
    assert cli.json("channel", "show", address)["naddr"] == channel["naddr"]

    listed = cli.json("channel", "list")
    assert [(c["address"], c["relation"], c["name"]) for c in listed] == [(address, "own", "Frunzenski district")]

    refused = cli.fails(*CREATE)  # a second channel with the same id would silently replace the first
    assert "already have a channel" in refused.err


# -- posts of every type -----------------------------------------------------------------------------------------


def readme_posts() -> list[Any]:
    """Every ``samizdat post`` line of the README's walkthrough, as pytest parameters."""
    params = []
    for line in README.read_text(encoding="utf-8").splitlines():
        if not line.startswith(f"samizdat post {CHANNEL} "):
            continue
        args = shlex.split(line, comments=True)[1:]
        post_type = args[args.index("--type") + 1]
        params.append(pytest.param(args, id=post_type))
    return params


README_POSTS = readme_posts()


def test_the_readme_shows_every_post_type() -> None:
    assert sorted(p.id for p in README_POSTS) == sorted(
        ["news", "alert", "help", "safe-place", "contact", "event", "appeal"]
    )


@pytest.fixture(scope="module")
def readme_channel(tmp_path_factory: pytest.TempPathFactory, cli_for: Callable[[Path], Cli]) -> Cli:
    cli = cli_for(tmp_path_factory.mktemp("readme") / "home")
    new_channel(cli)
    return cli


@pytest.mark.parametrize("args", README_POSTS)
def test_readme_post_example_works_as_written(readme_channel: Cli, args: list[str]) -> None:
    result = readme_channel.ok(*args)
    assert result.out.startswith("Published ")


def test_every_post_type_shows_in_the_feed(cli: Cli) -> None:
    new_channel(cli)
    before = int(time.time())
    ids = {
        "news": published(cli.json("post", CHANNEL, "--type", "news", "Metro stations are closed.", "--tag", "metro")),
        "alert": published(
            cli.json("post", CHANNEL, "--type", "alert", "Police vans at the market",
                     "--place", "Kalvaryjskaja 21", "--expires", "2h")
        ),
        "help": published(
            cli.json("post", CHANNEL, "--type", "help", "Need a driver to Zhodino", "--need", "transport")
        ),
        "safe-place": published(
            cli.json("post", CHANNEL, "--type", "safe-place", "Warm room, tea, phone chargers",
                     "--place", "Kuntsaushchyna 12", "--hours", "18:00-08:00")
        ),
        "contact": published(
            cli.json("post", CHANNEL, "--type", "contact", "Lawyer on duty tonight", "--role", "lawyer",
                     "--reach", "+375 29 000 00 00")
        ),
        "event": published(
            cli.json("post", CHANNEL, "--type", "event", "Neighbourhood meeting", "--start", "2026-11-22T18:00",
                     "--place", "Yard of block 7")
        ),
        "appeal": published(
            cli.json("post", CHANNEL, "--type", "appeal", "Fines for detained neighbours",
                     "--purpose", "fines", "--fund", "BY13 0000 (IBAN)", "--target", "5000 EUR")
        ),
    }  # fmt: skip
    after = int(time.time())
    feed = by_id(cli.json("feed", CHANNEL))
    assert set(feed) == set(ids.values())
    for post_type, event_id in ids.items():
        item = feed[event_id]
        assert set(item) == FEED_FIELDS
        assert item["type"] == post_type
        assert item["status"] == "valid"
        assert item["role"] == "owner"
        assert item["channel_name"] == "Frunzenski district"
        assert before - 1 <= item["created_at"] <= after + 1
        assert item["corrected"] is False
        assert item["retraction"] is None
        assert item["labels"] == {}

    assert feed[ids["news"]]["text"] == "Metro stations are closed."
    alert = feed[ids["alert"]]["fields"]
    assert alert["location"] == "Kalvaryjskaja 21"
    assert before + 7200 <= alert["expiration"] <= after + 7200  # --expires 2h: it will not live forever
    assert feed[ids["help"]]["fields"] == {"need": "transport", "status": "open"}
    assert feed[ids["safe-place"]]["fields"] == {"location": "Kuntsaushchyna 12", "hours": "18:00-08:00"}
    assert feed[ids["contact"]]["fields"] == {"role": "lawyer", "reach": "+375 29 000 00 00"}
    event = feed[ids["event"]]["fields"]
    assert event["start"] == int(datetime.fromisoformat("2026-11-22T18:00").timestamp())  # local time
    assert event["location"] == "Yard of block 7"
    appeal = feed[ids["appeal"]]["fields"]
    assert appeal["purpose"] == "fines"
    assert appeal["give"] == ["BY13 0000 (IBAN)"]
    assert appeal["target"] == ["5000", "EUR"]

    text = cli.ok("feed", CHANNEL).out
    for expected in (
        "Frunzenski district · alert",
        "Police vans at the market",
        "location: Kalvaryjskaja 21",
        "need: transport",
        "role: lawyer",
        "start: 2026-11-22 18:00",
        "give: BY13 0000 (IBAN)",
    ):
        assert expected in text
    assert "NOT COUNTED" not in text


# -- mistakes: corrections, resolutions, retractions -------------------------------------------------------------


def test_corrections_and_retractions_travel_with_the_post(cli: Cli) -> None:
    new_channel(cli)
    news = published(
        cli.json("post", CHANNEL, "--type", "news", "Metro stations Pushkinskaya and Molodezhnaya are closed.")
    )
    correction = published(cli.json("correct", news, "Only Pushkinskaya is closed; Molodezhnaya reopened at 14:00."))
    need = published(cli.json("post", CHANNEL, "--type", "help", "Need a driver to Zhodino", "--need", "transport"))
    resolved = published(cli.json("resolve", need))
    alert = published(
        cli.json("post", CHANNEL, "--type", "alert", "Police vans at the market", "--place", "Kalvaryjskaja 21")
    )
    retraction = cli.json("retract", alert, "--reason", "Not confirmed by anyone on the ground.")
    assert len(retraction["ids"]) == 2  # the visible retraction and a NIP-09 deletion request of our own post

    feed = cli.json("feed", CHANNEL)
    items = by_id(feed)
    corrected = items[news]
    assert corrected["corrected"] is True
    assert corrected["text"] == "Only Pushkinskaya is closed; Molodezhnaya reopened at 14:00."
    assert corrected["original_text"] == "Metro stations Pushkinskaya and Molodezhnaya are closed."
    assert [c["id"] for c in corrected["corrections"]] == [correction]
    help_request = items[need]
    assert help_request["fields"]["status"] == "resolved"
    assert [c["id"] for c in help_request["corrections"]] == [resolved]
    # The alert is withdrawn visibly, not silently: readers see the channel's reason in its place.
    withdrawn = items[alert]
    assert withdrawn["status"] == "retracted"
    assert withdrawn["retraction"]["reason"] == "Not confirmed by anyone on the ground."
    assert withdrawn["retraction"]["by"] == cli.json("keys", "show")["npub"]
    assert "Police vans" not in str(withdrawn.get("text"))
    # Amendments are shown with their post, not as posts of their own.
    assert correction not in items
    assert resolved not in items
    assert len(feed) == 3

    text = cli.ok("feed", CHANNEL).out
    assert "RETRACTED by the channel, because: Not confirmed by anyone on the ground." in text
    assert "CORRECTED 1x; originally: Metro stations Pushkinskaya and Molodezhnaya are closed." in text
    assert "status: resolved" in text
    assert "Police vans at the market" not in text


# -- a verifier ------------------------------------------------------------------------------------------------


def test_a_followed_verifiers_label_shows_with_the_post(
    cli: Cli, make_cli: Callable[[str], Cli], serve: Callable[..., ServeProcess]
) -> None:
    channel = new_channel(cli)
    news = published(cli.json("post", CHANNEL, "--type", "news", "Metro station Pushkinskaya is closed."))
    node = serve(cli.home)

    # The verifier has never seen the channel: `sync --channel naddr` fetches it from the owner's node (NIP-77).
    verifier = make_cli("verifier")
    verifier_npub = verifier.json("init")["npub"]
    fetched = verifier.json("sync", node.url, "--channel", channel["naddr"])
    assert (fetched["need"], fetched["received"], fetched["errors"]) == (2, 2, [])  # the definition and the post
    assert [item["id"] for item in verifier.json("feed", channel["naddr"])] == [news]
    published(verifier.json("label", news, "confirmed", "--reason", "Seen by two of our volunteers"))
    sent = verifier.json("sync", node.url, "--direction", "up")
    assert (sent["have"], sent["sent"], sent["errors"]) == (1, 1, [])  # the label goes to the owner's node

    assert by_id(cli.json("feed", CHANNEL))[news]["labels"] == {}  # nobody the reader follows said anything
    followed = cli.json("follow", verifier_npub)
    assert followed == {"verifier": verifier_npub, "added": True}
    assert by_id(cli.json("feed", CHANNEL))[news]["labels"] == {"confirmed": 1}
    assert "Verifiers: confirmed ×1" in cli.ok("feed", CHANNEL).out
    # The reader's own label counts too (they follow themselves).
    cli.ok("label", news, "disputed", "--reason", "Our neighbour saw it open")
    assert by_id(cli.json("feed", CHANNEL))[news]["labels"] == {"confirmed": 1, "disputed": 1}


# -- admins ----------------------------------------------------------------------------------------------------


def test_a_removed_co_admins_posts_count_until_the_removal(
    cli: Cli, make_cli: Callable[[str], Cli], tmp_path: Path
) -> None:
    channel = new_channel(cli)
    coadmin = make_cli("coadmin")
    coadmin_npub = coadmin.json("init")["npub"]

    appointed = cli.json("channel", "admins", CHANNEL, "--add", coadmin_npub, "--role", "admin")
    assert appointed["admins"] == [{"npub": coadmin_npub, "role": "admin"}]
    assert cli.json("channel", "admins", CHANNEL)["admins"] == appointed["admins"]  # no option: just list
    assert f"Admin: {coadmin_npub}" in cli.ok("channel", "show", CHANNEL, "--no-qr").out

    # The co-admin gets the channel's definition on a file, and posts with it.
    cli.ok("export", "--channel", CHANNEL, "-o", str(tmp_path / "definition.smz"))
    coadmin.ok("import", str(tmp_path / "definition.smz"))
    assert coadmin.json("channel", "list")[0]["relation"] == "carried"
    before = published(coadmin.json("post", channel["naddr"], "--type", "news", "Posted while an admin"))
    coadmin.ok("export", "--channel", channel["naddr"], "-o", str(tmp_path / "before.smz"))
    cli.ok("import", str(tmp_path / "before.smz"))
    item = by_id(cli.json("feed", CHANNEL))[before]
    assert (item["author"], item["role"], item["status"]) == (coadmin_npub, "admin", "valid")

    # Remove them from the second after their post on; wait (at most ~2 s) so "now" is not before that.
    since = item["created_at"] + 1
    for _ in range(50):
        if time.time() >= since:
            break
        time.sleep(0.1)
    removed = cli.json("channel", "admins", CHANNEL, "--remove", coadmin_npub, "--since", str(since))
    assert removed["admins"] == []
    assert removed["revoked"] == [{"npub": coadmin_npub, "since": since}]
    assert "Removed: " + coadmin_npub in cli.ok("channel", "show", CHANNEL, "--no-qr").out

    # The co-admin has not heard of it yet (their copy of the definition is old) and posts again.
    after = published(coadmin.json("post", channel["naddr"], "--type", "news", "Posted after the removal"))
    coadmin.ok("export", "--channel", channel["naddr"], "-o", str(tmp_path / "after.smz"))
    assert cli.json("import", str(tmp_path / "after.smz"))["new"] == 1

    feed = by_id(cli.json("feed", CHANNEL))
    assert after not in feed
    assert feed[before]["status"] == "valid"
    assert feed[before]["role"] == "former"  # still counts: it was written before the removal
    everything = by_id(cli.json("feed", CHANNEL, "--all"))
    assert everything[after]["status"] == "revoked"
    assert everything[after]["author"] == coadmin_npub
    assert "NOT COUNTED (revoked)" in cli.ok("feed", CHANNEL, "--all").out

    # Once the co-admin has the new definition, their node refuses to post in the owner's name.
    cli.ok("export", "--channel", CHANNEL, "-o", str(tmp_path / "new-definition.smz"))
    coadmin.ok("import", str(tmp_path / "new-definition.smz"))
    refused = coadmin.fails("post", channel["naddr"], "--type", "news", "One more")
    assert "not the owner or an admin" in refused.err


# -- impersonation ---------------------------------------------------------------------------------------------


def test_a_strangers_post_with_the_channels_address_is_forged(cli: Cli, serve: Callable[..., ServeProcess]) -> None:
    channel = new_channel(cli)
    real = published(cli.json("post", CHANNEL, "--type", "news", "The meeting is at 18:00."))
    node = serve(cli.home)

    # Anyone can send an event that claims to belong to the channel: the relay stores it (it is validly
    # signed, by the stranger), but readers must never see it as the channel's post.
    stranger = SecretKey.generate()
    forged = sign_event(
        stranger,
        kinds.POST,
        "The meeting is cancelled, stay home.",
        [["a", channel["address"], ""], ["type", "news"], ["alt", "Samizdat channel post (news)"]],
        created_at=int(time.time()),
    )
    with connect(node.url, open_timeout=10, close_timeout=2) as ws:
        ws.send('["EVENT",' + forged.to_json().decode() + "]")
        assert ws.recv(timeout=15) == f'["OK","{forged.id}",true,""]'

    feed = by_id(cli.json("feed", CHANNEL))
    assert set(feed) == {real}
    everything = by_id(cli.json("feed", CHANNEL, "--all"))
    assert everything[real]["status"] == "valid"
    assert everything[forged.id]["status"] == "forged"
    assert everything[forged.id]["author"] == nip19.npub_encode(stranger.public_key_hex)
    assert "not the channel's owner or admin" in everything[forged.id]["reason"]
    text = cli.ok("feed", CHANNEL).out
    assert "cancelled" not in text
    assert "NOT COUNTED (forged)" in cli.ok("feed", CHANNEL, "--all").out

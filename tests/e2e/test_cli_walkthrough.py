"""The README's "A first channel, step by step", as a new user types it, in real processes.

Each step checks what the user would notice: what is printed, what the feed then shows. A co-admin and a
verifier are other people with data directories of their own, and their events reach the owner by the routes
the README offers: bundle files (``samizdat export`` on one side, ``samizdat import`` on the other, as on a USB
stick during a blackout) and ``samizdat sync`` with the owner's running node (NIP-77). Then what a new user met
on a fresh clone: short names and short ids, ``channel edit``, one ``serve`` per data directory, bundles that
cannot be read, ``status``, Tor that is not running, ``netcheck``'s words, and the JSON scripts read.
"""

from __future__ import annotations

import re
import secrets
import shlex
import time
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from websockets.sync.client import connect

import photo_samples as samples
from samizdat import __version__
from samizdat.core import kinds, nip19
from samizdat.core.bundle import BLOCK_HEADER_SIZE, HEADER_SIZE
from samizdat.core.display import fingerprint
from samizdat.core.event import sign_event
from samizdat.core.keys import SecretKey
from samizdat.testing import free_port

if TYPE_CHECKING:
    from conftest import Cli, CliResult, ServeProcess

README = Path(__file__).resolve().parents[2] / "README.md"
CHANNEL = "frunzenski"
CREATE = (
    "channel", "create", CHANNEL, "--name", "Frunzenski district", "--about", "News for the district",
    "--lang", "ru", "--place", "BY/Minsk/Frunzenski", "--lat", "53.905", "--lon", "27.48",
)  # fmt: skip


#: An event a month ahead, at 18:00 local time: a start in the past needs --force.
START = (datetime.now() + timedelta(days=30)).replace(hour=18, minute=0, second=0, microsecond=0)
SHORT_ID = re.compile(r"\(([0-9a-f]{12})\)$")  # the id at the end of a feed item's first line
UNIX_TIME = re.compile(r"\b1[6-9]\d{8}\b")  # a Unix time in seconds (2020 to 2033) where a person reads

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


def new_channel(cli: Cli, *extra: str) -> dict[str, Any]:
    cli.ok("init")
    return dict(cli.json(*CREATE, *extra))


def readable(result: CliResult) -> str:
    """What a person reads: output that does not start with a blank line and shows no Unix seconds."""
    assert result.out == result.out.lstrip("\n"), f"a blank line first: {result.out[:200]!r}"
    assert not UNIX_TIME.search(result.out), f"a Unix time in the text: {result.out}"
    return result.out


def short_ids(feed_text: str) -> list[str]:
    """The short ids of a feed's items, in the order shown."""
    return [m.group(1) for line in feed_text.splitlines() if (m := SHORT_ID.search(line))]


# -- the command itself ------------------------------------------------------------------------------------------


def test_version_and_the_first_command_to_run(cli: Cli) -> None:
    assert cli.ok("--version").out == f"samizdat {__version__}\n"
    listed = cli.ok("--help").out
    commands = listed[listed.index("Commands") :]
    first = re.search(r"^\W*(\w+)", commands.splitlines()[1])
    assert first is not None
    assert first.group(1) == "init"  # what a new user runs first is listed first
    for command in ("--help", "post --help", "serve --help", "import --help"):
        shown = cli.ok(*command.split()).out
        assert "--help" in shown
        assert "<bool>" not in shown  # a flag takes no value
        assert "<list[" not in shown  # types read as words


# -- identity and the channel ----------------------------------------------------------------------------------


def test_init_keys_and_a_new_channel(cli: Cli) -> None:
    first = cli.ok("init")
    assert readable(first).startswith("Created")
    npub = next(word for word in first.out.split() if word.startswith("npub1"))
    again = cli.ok("init")  # idempotent: the same identity, not a new one
    assert "Already set up" in again.out
    assert npub in again.out
    assert (cli.home / "identity.sealed").stat().st_mode & 0o077 == 0  # the secret key is the owner's alone
    assert (cli.home / "keys.slots").stat().st_mode & 0o077 == 0
    # Scripts read these names: they stay.
    assert cli.json("init") == {"home": str(cli.home), "created": False, "npub": npub,
                                "pubkey": nip19.npub_decode(npub), "encrypted": True}  # fmt: skip

    keys = cli.json("keys", "show")
    assert set(keys) == {"npub", "pubkey"}
    assert keys["npub"] == npub
    assert nip19.npub_decode(npub) == keys["pubkey"]
    shown = cli.ok("keys", "show").out
    assert npub in shown
    assert "█" in shown  # the QR code a co-admin scans

    channel = cli.json(*CREATE)
    definition_fields = {"address", "naddr", "id", "owner", "name", "about", "languages", "place", "geohash",
                         "admins", "revoked", "mirrors", "media", "recovery", "updated_at"}  # fmt: skip
    assert set(channel) == definition_fields | {"ids", "delivered", "pending"}
    assert channel["recovery"] is None  # made without --recovery-file: no recovery key named
    assert len(channel["ids"]) == 1
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

    text = readable(cli.ok("channel", "show", CHANNEL))
    for expected in ("Frunzenski district", f"Owner: {npub}", "BY/Minsk/Frunzenski", channel["naddr"], "█"):
        assert expected in text
    # The naddr, the address and the short id all name the same channel.
    by_naddr = cli.json("channel", "show", channel["naddr"])
    assert definition_fields <= set(by_naddr)  # scripts' field names stay; show adds what readers check
    assert {"fingerprint", "relation", "vouched_by", "warned", "collides_with"} <= set(by_naddr)
    assert by_naddr["address"] == address
    assert cli.json("channel", "show", address)["naddr"] == channel["naddr"]

    listed = cli.json("channel", "list")
    assert [(c["address"], c["relation"], c["name"]) for c in listed] == [(address, "own", "Frunzenski district")]

    refused = cli.fails(*CREATE)  # a second channel with the same id would silently replace the first
    assert "already have a channel" in refused.err

    post = cli.json("post", CHANNEL, "--type", "news", "Metro is closed")
    assert post == {"ids": post["ids"], "delivered": 0, "pending": [], "photos": []}
    assert len(post["ids"][0]) == 64


# -- posts of every type -----------------------------------------------------------------------------------------


def readme_posts() -> list[Any]:
    """Every ``samizdat post --type`` line of the README's walkthrough, as pytest parameters (the co-admin's
    plain ``post`` is :func:`test_a_co_admin_receives_the_channel_and_posts_by_its_short_name`'s)."""
    params = []
    lines = README.read_text(encoding="utf-8").splitlines()
    for n, line in enumerate(lines):
        if not line.startswith(f"samizdat post {CHANNEL} "):
            continue
        while line.endswith("\\") and n + 1 < len(lines):  # a command continued on the next line
            n += 1
            line = line[:-1] + lines[n]
        args = shlex.split(line, comments=True)[1:]
        if "--type" not in args:
            continue
        post_type = args[args.index("--type") + 1]
        params.append(pytest.param(args, id=post_type + ("-photo" if "--photo" in args else "")))
    return params


README_POSTS = readme_posts()


def test_the_readme_shows_every_post_type() -> None:
    assert {p.id for p in README_POSTS} == {"news", "alert", "help", "safe-place", "contact", "event", "appeal",
                                            "alert-photo"}  # fmt: skip


@pytest.fixture(scope="module")
def readme_channel(tmp_path_factory: pytest.TempPathFactory, cli_for: Callable[[Path], Cli]) -> Cli:
    cli = cli_for(tmp_path_factory.mktemp("readme") / "home")
    new_channel(cli)
    return cli


@pytest.mark.parametrize("args", README_POSTS)
def test_readme_post_example_works_as_written(readme_channel: Cli, args: list[str], tmp_path: Path) -> None:
    args = list(args)
    for i, arg in enumerate(args[:-1]):  # the README's photo names: a real picture of that format in their place
        if arg == "--photo":
            name = tmp_path / args[i + 1]
            picture = samples.coffee()
            name.write_bytes(samples.heic(picture) if name.suffix.lower() == ".heic" else samples.loaded_jpeg(picture))
            args[i + 1] = str(name)
    result = readme_channel.ok(*args)
    assert readable(result).startswith("Published ")


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
            cli.json("post", CHANNEL, "--type", "event", "Neighbourhood meeting",
                     "--start", START.strftime("%Y-%m-%dT%H:%M"), "--place", "Yard of block 7")
        ),
        "appeal": published(
            cli.json("post", CHANNEL, "--type", "appeal", "Fines for detained neighbours",
                     "--purpose", "fines", "--fund", "BY13 0000 (IBAN)", "--target", "5000 EUR")
        ),
    }  # fmt: skip
    after = int(time.time())
    # An event whose start is past is most likely a typo: refused, unless the person insists.
    last_year = (START - timedelta(days=400)).strftime("%Y-%m-%dT%H:%M")
    past = ("post", CHANNEL, "--type", "event", "Meeting about the heating", "--start", last_year, "--place", "Yard")
    refused = cli.fails(*past)
    assert "in the past" in refused.err
    assert "--force" in refused.err
    forced = published(cli.json(*past, "--force"))

    feed = by_id(cli.json("feed", CHANNEL))
    assert forced in feed
    del feed[forced]
    assert set(feed) == set(ids.values())
    for post_type, event_id in ids.items():
        item = feed[event_id]
        assert FEED_FIELDS <= set(item)  # scripts read these names; new ones may join them
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
    assert event["start"] == int(START.timestamp())  # local time
    assert event["location"] == "Yard of block 7"
    appeal = feed[ids["appeal"]]["fields"]
    assert appeal["purpose"] == "fines"
    assert appeal["give"] == ["BY13 0000 (IBAN)"]
    assert appeal["target"] == ["5000", "EUR"]

    text = readable(cli.ok("feed", CHANNEL))
    for expected in (
        "Frunzenski district · alert",
        "Police vans at the market",
        "place: Kalvaryjskaja 21",
        "needs: transport",
        "role: lawyer",
        f"starts: {START:%Y-%m-%d} 18:00",
        "fund: BY13 0000 (IBAN)",
    ):
        assert expected in text
    assert "NOT COUNTED" not in text
    assert sorted(short_ids(text)) == sorted(i[:12] for i in [*ids.values(), forced])  # 12 hex characters each


# -- mistakes: corrections, resolutions, retractions -------------------------------------------------------------


def test_corrections_and_retractions_travel_with_the_post(cli: Cli) -> None:
    new_channel(cli)
    news = published(
        cli.json("post", CHANNEL, "--type", "news", "Metro stations Pushkinskaya and Molodezhnaya are closed.")
    )
    need = published(cli.json("post", CHANNEL, "--type", "help", "Need a driver to Zhodino", "--need", "transport"))
    alert = published(
        cli.json("post", CHANNEL, "--type", "alert", "Police vans at the market", "--place", "Kalvaryjskaja 21")
    )
    # A person names a post by what the feed shows: its short id, 8 characters of it, or its nevent.
    assert sorted(short_ids(cli.ok("feed", CHANNEL).out)) == sorted(i[:12] for i in (news, need, alert))
    nevents = [line.rsplit("(", 1)[1].rstrip(")") for line in cli.ok("feed", CHANNEL, "--nevent").out.splitlines()
               if line.startswith("[")]  # fmt: skip
    assert all(n.startswith("nevent1") for n in nevents)
    assert {nip19.nevent_decode(n).id for n in nevents} == {news, need, alert}
    alert_nevent = next(n for n in nevents if nip19.nevent_decode(n).id == alert)

    correction = published(
        cli.json("correct", news[:12], "Only Pushkinskaya is closed; Molodezhnaya reopened at 14:00.")
    )
    resolved = published(cli.json("resolve", need[:8]))
    retraction = cli.json("retract", alert_nevent, "--reason", "Not confirmed by anyone on the ground.")
    assert len(retraction["ids"]) == 2  # the visible retraction and a NIP-09 deletion request of our own post
    assert "at least 8" in cli.fails("label", news[:7], "confirmed").err
    published(cli.json("label", nip19.note_encode(news), "confirmed"))

    feed = cli.json("feed", CHANNEL)
    items = by_id(feed)
    corrected = items[news]
    assert corrected["corrected"] is True
    assert corrected["text"] == "Only Pushkinskaya is closed; Molodezhnaya reopened at 14:00."
    assert corrected["original_text"] == "Metro stations Pushkinskaya and Molodezhnaya are closed."
    assert [c["id"] for c in corrected["corrections"]] == [correction]
    assert corrected["labels"] == {"confirmed": 1}  # our own label: we follow ourselves
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

    text = readable(cli.ok("feed", CHANNEL))
    assert "RETRACTED by the channel, because: Not confirmed by anyone on the ground." in text
    assert "corrected ×1; originally: Metro stations Pushkinskaya and Molodezhnaya are closed." in text
    assert "verifiers: confirmed ×1" in text
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
    # with the fingerprint to compare whole with the one the verifier gives in person (npubs can be ground alike)
    shown = fingerprint(nip19.npub_decode(verifier_npub))
    assert followed == {"verifier": verifier_npub, "added": True, "fingerprint": shown}
    assert by_id(cli.json("feed", CHANNEL))[news]["labels"] == {"confirmed": 1}
    assert "verifiers: confirmed ×1" in cli.ok("feed", CHANNEL).out
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
    assert "not the owner, an admin or an editor" in refused.err


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


# -- a co-admin on their own node, and channels with the same short name ---------------------------------------


def test_a_co_admin_receives_the_channel_and_posts_by_its_short_name(
    cli: Cli, make_cli: Callable[[str], Cli], serve: Callable[..., ServeProcess], tmp_path: Path
) -> None:
    channel = new_channel(cli)
    coadmin = make_cli("coadmin")
    coadmin_npub = coadmin.json("init")["npub"]
    cli.ok("channel", "admins", CHANNEL, "--add", coadmin_npub, "--role", "admin")
    node = serve(cli.home)

    # The README's co-admin path: follow the naddr, sync with the owner's node, then post by the short name.
    assert f"no channel called '{CHANNEL}'" in coadmin.fails("post", CHANNEL, "Too early").err
    coadmin.ok("follow", channel["naddr"])
    fetched = coadmin.json("sync", node.url, "--channel", CHANNEL)
    assert (fetched["received"], fetched["errors"]) == (1, [])  # the definition, with the co-admin in it
    posted = coadmin.ok("post", CHANNEL, "Water is off in blocks 3 to 9 until 18:00.")
    (post_id,) = short_ids(coadmin.ok("feed", CHANNEL).out)
    assert readable(posted).startswith(f"Published {post_id}")
    sent = coadmin.json("sync", node.url, "--channel", CHANNEL, "--direction", "up")
    assert (sent["sent"], sent["errors"]) == (1, [])
    [item] = [i for i in cli.json("feed", CHANNEL) if i["id"].startswith(post_id)]
    assert (item["author"], item["role"], item["status"]) == (coadmin_npub, "admin", "valid")
    assert cli.json("sync", node.url, "--channel", CHANNEL)["errors"] == []  # the owner's node knows it too

    # A stranger makes a channel with the same short name, and it reaches the co-admin's node in a bundle.
    impostor = make_cli("impostor")
    impostor.ok("init")
    fake = impostor.json("channel", "create", CHANNEL, "--name", "Frunzenski district")
    impostor.ok("post", CHANNEL, "--type", "news", "The meeting is cancelled, stay home.")
    impostor.ok("export", "--channel", CHANNEL, "-o", str(tmp_path / "impostor.smz"))
    coadmin.ok("import", str(tmp_path / "impostor.smz"))
    relations = {row["address"]: row["relation"] for row in coadmin.json("channel", "list")}
    assert relations == {channel["address"]: "followed", fake["address"]: "carried"}
    # The short name never leads to a channel the node merely carries.
    assert coadmin.json("channel", "show", CHANNEL)["address"] == channel["address"]
    assert {i["channel"] for i in coadmin.json("feed", CHANNEL)} == {channel["address"]}
    second = coadmin.ok("post", CHANNEL, "Water is back.")
    assert readable(second).startswith("Published ")
    assert len(coadmin.json("feed", channel["naddr"])) == 2

    # A reader who has only the impostor's channel: the short name finds nothing; the naddr finds it.
    reader = make_cli("reader")
    reader.ok("init")
    reader.ok("import", str(tmp_path / "impostor.smz"))
    assert f"no channel called '{CHANNEL}'" in reader.fails("feed", CHANNEL).err
    assert reader.json("channel", "show", fake["naddr"])["address"] == fake["address"]
    # Following both: the short name is ambiguous, and the error names both naddrs to choose from.
    reader.ok("follow", channel["naddr"])
    reader.ok("follow", fake["naddr"])
    reader.ok("sync", node.url, "--channel", channel["naddr"])
    ambiguous = reader.fails("feed", CHANNEL).err
    assert channel["naddr"] in ambiguous
    assert fake["naddr"] in ambiguous


# -- editing a channel, and what `status` says -----------------------------------------------------------------


def test_editing_a_channel_and_what_status_says_about_delivery(cli: Cli, wait_until: Callable[..., Any]) -> None:
    mirror = f"ws://127.0.0.1:{free_port()}"  # nothing listens there: every delivery waits
    created = new_channel(cli, "--mirror", mirror)
    editor = nip19.npub_encode(SecretKey.generate().public_key_hex)
    cli.ok("channel", "admins", CHANNEL, "--add", editor, "--role", "editor")

    edited = cli.json("channel", "edit", CHANNEL, "--name", "Frunzenski", "--about", "News and alerts",
                      "--lang", "be", "--lang", "ru", "--place", "BY/Minsk")  # fmt: skip
    again = cli.json("channel", "edit", CHANNEL, "--about", "News, alerts and help")
    show = cli.json("channel", "show", CHANNEL)
    assert (show["name"], show["about"], show["languages"], show["place"]) == (
        "Frunzenski", "News, alerts and help", ["be", "ru"], "BY/Minsk"
    )  # fmt: skip
    assert show["admins"] == [{"npub": editor, "role": "editor"}]  # admins stay
    assert show["mirrors"] == [mirror]
    assert show["naddr"] == created["naddr"]  # the same channel, a new version of its definition
    text = readable(cli.ok("channel", "show", CHANNEL, "--no-qr"))
    for expected in ("Frunzenski  (frunzenski)", "News, alerts and help", "Languages: be, ru", "Place: BY/Minsk",
                     f"Editor: {editor}", f"Mirrors: {mirror}"):  # fmt: skip
        assert expected in text

    # The replaced definitions are not failures, nor waiting: they are "no longer needed".
    replaced = {created["ids"][0], edited["ids"][0]}
    cli.ok("post", CHANNEL, "--type", "news", "Metro is closed")
    status = cli.json("status")
    assert status["outbox"]["failed"] == []
    assert status["outbox"]["superseded"] >= 2
    assert not replaced & {r["event"] for r in status["outbox"]["pending"]}

    summary = readable(cli.ok("status"))
    lines = summary.splitlines()
    assert lines[0] == f"Identity: {created['owner']}"
    delivery = next(line for line in lines if line.startswith("Delivery: "))
    assert re.fullmatch(r"Delivery: 0 delivered, \d+ waiting, 0 failed \(\d+ no longer needed: replaced, "
                        r"retracted or expired\)", delivery), delivery  # fmt: skip
    assert f"  {mirror}: 0 delivered, " in summary
    assert "does not answer" in summary
    assert f"last error: cannot connect to {mirror}" in summary
    assert "`samizdat status --verbose`" in summary
    for jargon in ("addressable", "replaceable", "regular", "gone from the store", "error: error", "kind"):
        assert jargon not in summary
    assert again["ids"][0][:12] not in summary  # each post only with --verbose
    verbose = readable(cli.ok("status", "--verbose"))
    assert f"waiting {again['ids'][0][:12]} -> {mirror}" in verbose


# -- serve: its addresses, one per data directory, a busy port, kill -9; netcheck on loopback --------------------


def test_serve_is_alone_on_its_data_directory_and_tells_where_it_listens(
    cli: Cli, make_cli: Callable[[str], Cli], serve: Callable[..., ServeProcess]
) -> None:
    cli.ok("init")
    node = serve(cli.home)  # --port 0: the system picks the port
    started = node.output()
    assert f"Samizdat relay listening on ws://127.0.0.1:{node.port}" in started
    assert f"Web app: http://127.0.0.1:{node.port}/" in started
    assert f"http://127.0.0.1:{node.port}/#op=" in cli.ok("web", "login", "--no-qr").out  # the port it really uses

    second = cli.fails("serve", "--port", "0")
    assert "another `samizdat serve` is running" in second.err
    assert f"127.0.0.1:{node.port}" in second.err
    other = make_cli("other")
    other.ok("init")
    busy = other.fails("serve", "--port", str(node.port))
    assert f"port {node.port} is in use: another node may be running; try --port" in busy.err

    # netcheck on loopback: what a refused connection means, what the classes mean, and no reports about it.
    dead = f"ws://127.0.0.1:{free_port()}"
    control_dns = f"tcp://127.0.0.1:{free_port()}"  # no resolver there: nothing leaves this machine
    check = ("netcheck", node.url, dead, "--control-dns", control_dns, "--report", "--country", "BY")
    text = readable(cli.ok(*check))
    lines = text.splitlines()
    ok_line = next(line for line in lines if line.startswith(node.url))
    assert re.search(r"\bok\b +the relay answered in \d+\.\d{3} s(;|$)", ok_line), ok_line  # the JSON's precision
    # A new node has too little to send for the data step to tell a stall or a throttle: it says so.
    assert "not enough data to tell" in ok_line
    dead_line = next(line for line in lines if line.startswith(dead))
    assert "tcp.reset" in dead_line
    assert "refused" in dead_line
    assert "a relay that is down and a censor's reset look the same from here" in dead_line
    assert "What this means:" in lines
    assert any(line.strip().startswith("tcp.reset") and "refused or reset" in line for line in lines)
    assert any(line.startswith("Without a control path (--control-proxy") for line in lines)
    assert "Published 0 anonymous reachability reports." in lines
    assert f"Not reported: {node.url}, {dead} (a loopback or private address says nothing about censorship)." in lines
    data = cli.json(*check)
    assert (data["reported"], sorted(data["not_reported"])) == (0, sorted([node.url, dead]))
    assert {r["class"] for r in data["results"]} == {"ok", "tcp.reset"}  # the class names older nodes know

    # kill -9 leaves no lock behind: the next serve starts, and web login follows it to its new port.
    node.process.kill()
    node.process.wait(15)
    restarted = serve(cli.home)
    assert f"http://127.0.0.1:{restarted.port}/#op=" in cli.ok("web", "login", "--no-qr").out


# -- bundles -----------------------------------------------------------------------------------------------------


def test_bundles_name_their_parts_and_a_bad_file_says_why_once(
    cli: Cli, make_cli: Callable[[str], Cli], tmp_path: Path
) -> None:
    new_channel(cli)
    for _ in range(3):  # text that does not compress, so that the channel needs more than one 4 KiB part
        # (after a word: random text starting with "-" would be read as an option, one post in 64)
        cli.ok("post", CHANNEL, "--type", "news", f"Noise {secrets.token_urlsafe(2400)}")
    refused = cli.fails("export", "--channel", CHANNEL, "--max-size", "4KB", "-o", str(tmp_path / "x.smz"))
    assert "--max-size 4KB is 4000 bytes; a part needs at least 4096 bytes" in refused.err
    out = tmp_path / "frunzenski.smz"
    exported = readable(cli.ok("export", "--channel", CHANNEL, "--max-size", "4 KiB", "-o", str(out)))
    parts = sorted(tmp_path.glob("frunzenski*.smz"))
    assert len(parts) >= 2
    assert exported.startswith(f"Exported 4 events in {len(parts)} parts: {out}, ")  # part 1 first
    assert all(str(part) in exported for part in parts)  # every part it wrote, by name

    reader = make_cli("reader")
    reader.ok("init")
    imported = readable(reader.ok("import", *map(str, reversed(parts))))
    assert imported.startswith("Imported: 4 new, 0 duplicate, 0 invalid\n")
    assert f"  {parts[-1].name} (part " in imported  # one line per file when there are several
    assert len(reader.json("feed", cli.json("channel", "show", CHANNEL)["naddr"])) == 3

    # A part damaged on the way: what could be read is kept, and the command fails saying why. The damage lands
    # in the compressed records of part 1's first block (past the part and block headers), never in a header.
    data = bytearray(out.read_bytes())
    data[HEADER_SIZE + BLOCK_HEADER_SIZE + 8] ^= 0xFF
    damaged = tmp_path / "damaged.smz"
    damaged.write_bytes(bytes(data))
    bad = reader.fails("import", str(damaged))
    assert bad.out.startswith("Imported: 0 new")
    assert "the bundle damaged.smz is damaged (" in bad.err
    assert "1 event lost" in bad.err
    # A file that is not a bundle at all: said once, in the error, not also in the report.
    notes = tmp_path / "notes.txt"
    notes.write_text("meeting at 18:00\n")
    failed = reader.fails("import", str(notes))
    assert "cannot import notes.txt: this is not a Samizdat bundle" in failed.err
    assert "not a Samizdat bundle" not in failed.out


# -- Tor that is not running -------------------------------------------------------------------------------------


def test_a_post_via_tor_says_at_once_that_tor_is_not_running(cli: Cli) -> None:
    cli.ok("init")
    tor = free_port()  # no Tor listens here (whatever runs on this machine's 9050)
    (cli.home / "config.toml").write_text(f'[transports]\ntor = "socks5h://127.0.0.1:{tor}"\n')
    cli.ok(*CREATE, "--mirror", f"ws://127.0.0.1:{free_port()}")
    warning = f"warning: Tor is not running at 127.0.0.1:{tor}: connection refused"
    for option in ("--via", "--proxy"):
        result = cli.ok(option, "tor", "post", CHANNEL, f"Posted with {option} tor")
        assert readable(result).startswith("Published ")  # stored, and queued for serve
        assert "Queued for ws://127.0.0.1:" in result.out
        [line] = result.error_lines
        assert line.startswith(warning), line
    assert len(cli.json("feed", CHANNEL)) == 2

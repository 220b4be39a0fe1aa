"""Commands for channels and posts: ``channel create|show|list|admins``, ``post``, ``correct``, ``retract``,
``resolve``, ``label``, ``follow``, ``unfollow`` and ``feed``.

A CHANNEL argument is an ``naddr``, an address ``30333:<owner hex>:<id>``, or the id of one of your own channels.
"""

from __future__ import annotations

from typing import Any

import typer

from samizdat.cli.common import JsonOption, emit, qr_text, run, with_node
from samizdat.cli.render import post_json, render_feed
from samizdat.cli.timeparse import parse_when
from samizdat.core import geohash as gh
from samizdat.core import kinds, nip19
from samizdat.core.channel import (
    ADMIN_ROLES,
    Channel,
    add_admin,
    build_channel_event,
    parse_channel,
    parse_channel_address,
    remove_admin,
)
from samizdat.core.event import Event
from samizdat.core.filters import Filter
from samizdat.core.posts import (
    POST_TYPES,
    build_correction,
    build_label,
    build_post,
    build_resolution,
    build_retraction,
    parse_post,
)
from samizdat.errors import RemoteProtocolError, UsageError
from samizdat.node import CLI_DELIVERY_BUDGET, Node

# -- finding channels and posts -------------------------------------------------------------------------------


def _address_of(node: Node, text: str) -> str:
    if ":" in text or text.startswith(("naddr1", "nostr:")):
        pointer = parse_channel_address(text)
        return f"{pointer.kind}:{pointer.pubkey}:{pointer.identifier}"
    return f"{kinds.CHANNEL}:{node.key.public_key_hex}:{text}"


def _definition_filter(address: str) -> Filter:
    kind, owner, identifier = address.split(":", 2)
    return Filter(kinds=frozenset({int(kind)}), authors=frozenset({owner}), tags=(("d", frozenset({identifier})),))


async def lookup_channel(node: Node, address: str) -> Channel | None:
    """The current definition of the channel at ``address`` in our store, or None."""
    return await node.channel(address)


async def resolve_channel(node: Node, text: str) -> Channel:
    """The channel a person named; raise UsageError saying what to do when we do not have its definition."""
    address = _address_of(node, text)
    channel = await lookup_channel(node, address)
    if channel is None:
        if address.split(":")[1] == node.key.public_key_hex:
            raise UsageError(f"You have no channel called {address.split(':', 2)[2]!r}; see `samizdat channel list`.")
        raise UsageError(f"This node does not have channel {text[:70]} yet: follow it, then sync with a relay.")
    return channel


def channel_scope(channel: Channel) -> list[Filter]:
    """Filters for everything that makes up a channel: its definition, its posts (corrections and retractions
    included, all tagged with its address) and the deletion requests of its owner and admins."""
    keys = frozenset({channel.owner, *channel.admins, *channel.revoked})
    return [
        _definition_filter(channel.address),
        Filter(tags=(("a", frozenset({channel.address})),)),
        Filter(kinds=frozenset({kinds.DELETION}), authors=keys),
    ]


async def find_post(node: Node, ref: str) -> tuple[Event, Channel]:
    """A post given by hex id, ``note`` or ``nevent``, with its channel; UsageError if unknown."""
    text = ref.strip().removeprefix("nostr:")
    if text.startswith("nevent1"):
        event_id = nip19.nevent_decode(text).id
    elif text.startswith("note1"):
        event_id = nip19.note_decode(text)
    else:
        event_id = text.lower()
    event = await node.store.get(event_id) if len(event_id) == 64 else None
    if event is None:
        raise UsageError(f"No post {ref[:70]} in this node's store.")
    try:
        post = parse_post(event)
    except RemoteProtocolError as exc:
        raise UsageError(f"Event {event_id[:12]} is not a channel post: {exc}.") from exc
    channel = await lookup_channel(node, post.channel)
    if channel is None:
        raise UsageError(f"This node does not have the definition of the post's channel {post.channel}.")
    return event, channel


async def publish(node: Node, channel: Channel, events: list[Event]) -> dict[str, Any]:
    """Store events, queue them for the channel's mirrors and our write relays, and try delivering now."""
    outcomes = await node.publish(events, channel.mirrors)
    refused = [o.reply for o in outcomes if not o.accepted]
    if refused:
        raise UsageError(f"The store refused the event: {refused[0]}")
    report = await node.deliver_outbox(budget=CLI_DELIVERY_BUDGET)
    pending = [r.relay for r in node.local.outbox(["pending"]) if r.event_id in {e.id for e in events}]
    return {"ids": [e.id for e in events], "delivered": report.accepted, "pending": sorted(set(pending))}


def _published_text(data: dict[str, Any]) -> str:
    lines = [f"Published {data['ids'][0]}"]
    if data["pending"]:
        lines.append(
            f"Queued for {', '.join(data['pending'])}: `samizdat serve` keeps retrying; see `samizdat status`."
        )
    return "\n".join(lines)


def _channel_dict(channel: Channel, *, naddr: bool = True) -> dict[str, Any]:
    return {
        "address": channel.address,
        "naddr": channel.naddr() if naddr else None,
        "id": channel.channel_id,
        "owner": nip19.npub_encode(channel.owner),
        "name": channel.name,
        "about": channel.about,
        "languages": list(channel.languages),
        "place": channel.place,
        "geohash": channel.geohash,
        "admins": [{"npub": nip19.npub_encode(k), "role": r} for k, r in channel.admins.items()],
        "revoked": [{"npub": nip19.npub_encode(k), "since": s} for k, s in channel.revoked.items()],
        "mirrors": list(channel.mirrors),
        "updated_at": channel.created_at,
    }


def _channel_text(d: dict[str, Any]) -> str:
    lines = [f"{d['name']}  ({d['id']})", f"Owner: {d['owner']}"]
    if d["about"]:
        lines.append(d["about"])
    if d["place"] or d["geohash"]:
        lines.append(f"Place: {d['place']} {d['geohash']}".rstrip())
    for admin in d["admins"]:
        lines.append(f"{admin['role'].capitalize()}: {admin['npub']}")
    for former in d["revoked"]:
        lines.append(f"Removed: {former['npub']} (posts from {former['since']} on do not count)")
    lines.append("Mirrors: " + (", ".join(d["mirrors"]) or "none (posts stay on this node until synced)"))
    lines.append(f"Share: {d['naddr']}")
    return "\n".join(lines)


def _location(lat: float | None, lon: float | None, geohash: str | None) -> str:
    if geohash:
        return geohash
    if lat is None and lon is None:
        return ""
    if lat is None or lon is None or not (-90 <= lat <= 90 and -180 <= lon <= 180):
        raise UsageError("Give both --lat (-90..90) and --lon (-180..180), or a --geohash.")
    return gh.encode(lat, lon, 7)


# -- commands -------------------------------------------------------------------------------------------------


def register(app: typer.Typer) -> None:
    channel_app = typer.Typer(help="Create, show and manage channels.", no_args_is_help=True)
    app.add_typer(channel_app, name="channel")

    @channel_app.command("create")
    def channel_create(
        channel_id: str = typer.Argument(..., help="Short id, e.g. minsk-frunzenski (a-z, 0-9, . _ -)."),
        name: str = typer.Option(..., help="Channel name shown to readers."),
        about: str = typer.Option("", help="Description."),
        lang: list[str] = typer.Option([], "--lang", help="Language code(s), e.g. ru, be."),
        place: str = typer.Option("", help="Place path such as BY/Minsk/Frunzenski."),
        lat: float | None = typer.Option(None, help="Latitude of the place (for geohash tags)."),
        lon: float | None = typer.Option(None, help="Longitude of the place."),
        geohash: str | None = typer.Option(None, help="Geohash of the place, instead of --lat/--lon."),
        mirror: list[str] = typer.Option([], "--mirror", help="Relay the channel publishes to (repeatable)."),
        as_json: bool = JsonOption,
    ) -> None:
        """Create a channel owned by this node's key, and print its shareable address."""

        async def action(node: Node) -> dict[str, Any]:
            address = f"{kinds.CHANNEL}:{node.key.public_key_hex}:{channel_id}"
            if await lookup_channel(node, address) is not None:
                raise UsageError(f"You already have a channel {channel_id!r}; change it with `channel admins`.")
            event = build_channel_event(
                node.key,
                channel_id,
                name,
                created_at=node.now(),
                about=about,
                languages=lang,
                place=place,
                geohash=_location(lat, lon, geohash),
                mirrors=mirror,
            )
            channel = parse_channel(event)
            result = await publish(node, channel, [event])
            return {**_channel_dict(channel), **result}

        data = run(with_node(action))
        emit(data, as_json, lambda d: f"Created channel {d['name']}\n{qr_text(d['naddr'])}{_channel_text(d)}")

    @channel_app.command("show")
    def channel_show(
        channel: str = typer.Argument(..., help="naddr, address, or your channel's id."),
        qr: bool = typer.Option(True, help="Draw the naddr as a QR code."),
        as_json: bool = JsonOption,
    ) -> None:
        """Show a channel's definition and the naddr to share (with a QR code)."""

        async def action(node: Node) -> dict[str, Any]:
            return _channel_dict(await resolve_channel(node, channel))

        data = run(with_node(action))
        emit(data, as_json, lambda d: (qr_text(d["naddr"]) if qr else "") + _channel_text(d))

    @channel_app.command("list")
    def channel_list(as_json: bool = JsonOption) -> None:
        """List the channels this node knows: your own, followed ones, and others it carries."""

        async def action(node: Node) -> list[dict[str, Any]]:
            events = await node.store.query([Filter(kinds=frozenset({kinds.CHANNEL}), limit=5000)])
            follows = node.local.follows()
            rows = []
            for event in events:
                try:
                    channel = parse_channel(event)
                except RemoteProtocolError:
                    continue
                relation = (
                    "own"
                    if channel.owner == node.key.public_key_hex
                    else "followed"
                    if channel.address in follows
                    else "carried"
                )
                rows.append({**_channel_dict(channel), "relation": relation})
            known = {r["address"] for r in rows}
            rows += [{"address": a, "relation": "followed", "name": None} for a in follows if a not in known]
            return rows

        data = run(with_node(action))
        emit(
            data,
            as_json,
            lambda rows: (
                "\n".join(
                    f"{r['relation']:8} {r.get('name') or '(definition not synced yet)'}  {r['address']}" for r in rows
                )
                or "No channels yet: `samizdat channel create` or `samizdat follow`."
            ),
        )

    @channel_app.command("admins")
    def channel_admins(
        channel: str = typer.Argument(..., help="Your channel (id, address or naddr)."),
        add: list[str] = typer.Option([], "--add", help="npub (or hex) to appoint (repeatable)."),
        role: str = typer.Option("admin", help="Role for --add: admin (any post) or editor (own posts)."),
        remove: list[str] = typer.Option([], "--remove", help="npub (or hex) to remove (repeatable)."),
        since: str | None = typer.Option(
            None,
            help="For --remove: their posts from this time on stop counting "
            "(default now; earlier if the key was compromised earlier).",
        ),
        as_json: bool = JsonOption,
    ) -> None:
        """List, appoint or remove a channel's admins (the owner republishes the definition)."""
        if role not in ADMIN_ROLES:
            raise UsageError(f"--role is one of {', '.join(ADMIN_ROLES)}.")

        async def action(node: Node) -> dict[str, Any]:
            current = await resolve_channel(node, channel)
            if not add and not remove:
                return _channel_dict(current)
            event = None
            for text in add:
                event = add_admin(node.key, current, nip19.parse_pubkey(text), role, created_at=node.now())
                current = parse_channel(event)
            for text in remove:
                when = parse_when(since, node.now()) if since else None
                event = remove_admin(node.key, current, nip19.parse_pubkey(text), created_at=node.now(), since=when)
                current = parse_channel(event)
            assert event is not None
            result = await publish(node, current, [event])
            return {**_channel_dict(current), **result}

        data = run(with_node(action))
        emit(data, as_json, _channel_text)

    @app.command("post")
    def post(
        channel: str = typer.Argument(..., help="Channel (id of your own, address or naddr)."),
        text: str = typer.Argument("", help="The post's text."),
        post_type: str = typer.Option("news", "--type", help=f"One of: {', '.join(POST_TYPES[:-2])}."),
        subject: str = typer.Option("", help="A title."),
        tag: list[str] = typer.Option([], "--tag", help="Hashtag (repeatable)."),
        place: str = typer.Option("", help="Location text (alert, safe-place, event, ...)."),
        lat: float | None = typer.Option(None, help="Latitude of the location."),
        lon: float | None = typer.Option(None, help="Longitude of the location."),
        geohash: str | None = typer.Option(None, help="Geohash of the location."),
        expires: str | None = typer.Option(None, help="Lifetime (2h, 30m, 1d) or time; alerts default to 3h."),
        need: str = typer.Option("", help="help: what is needed."),
        status: str = typer.Option("", help="help: open or resolved."),
        role: str = typer.Option("", help="contact: lawyer, medic or other."),
        reach: str = typer.Option("", help="contact/help/safe-place: how to reach them."),
        hours: str = typer.Option("", help="safe-place/contact: opening hours."),
        start: str | None = typer.Option(None, help="event: start (2026-11-22T18:00, local time; or Unix time)."),
        end: str | None = typer.Option(None, help="event: end."),
        purpose: str = typer.Option("", help="appeal: what the money is for."),
        give: list[str] = typer.Option([], "--give", help="appeal: how to give (repeatable)."),
        fund: list[str] = typer.Option([], "--fund", help="appeal: same as --give."),
        target: str | None = typer.Option(None, help="appeal: target amount and currency, e.g. '5000 EUR'."),
        as_json: bool = JsonOption,
    ) -> None:
        """Publish a signed post of any type to a channel you own or administer."""

        if post_type in POST_TYPES[-2:]:  # correction, retraction: they need the post they amend
            verb = "correct" if post_type == POST_TYPES[-2] else "retract"
            raise UsageError(f"A {post_type} amends a post: use `samizdat {verb} <post-id>`.")

        async def action(node: Node) -> dict[str, Any]:
            target_channel = await resolve_channel(node, channel)
            now = node.now()
            fields: dict[str, Any] = {}
            for name, value in (
                ("location", place),
                ("need", need),
                ("status", status),
                ("role", role),
                ("reach", reach),
                ("hours", hours),
                ("purpose", purpose),
            ):
                if value:
                    fields[name] = value
            if location := _location(lat, lon, geohash):
                fields["geohash"] = location
            if expires:
                fields["expiration"] = parse_when(expires, now, relative=True)
            if start:
                fields["start"] = parse_when(start, now)
            if end:
                fields["end"] = parse_when(end, now)
            if give or fund:
                fields["give"] = tuple(give) + tuple(fund)
            if target:
                amount, _, currency = target.strip().partition(" ")
                fields["target"] = (amount, currency.strip())
            event = build_post(
                node.key, target_channel, post_type, text, created_at=now, subject=subject, hashtags=tag, **fields
            )
            return await publish(node, target_channel, [event])

        emit(run(with_node(action)), as_json, _published_text)

    @app.command("correct")
    def correct(
        post_id: str = typer.Argument(..., help="The post to correct (hex id, note or nevent)."),
        text: str = typer.Argument("", help="The corrected text (empty keeps the text)."),
        place: str = typer.Option("", help="Corrected location."),
        status: str = typer.Option("", help="Corrected status (help: open/resolved)."),
        as_json: bool = JsonOption,
    ) -> None:
        """Publish a correction that readers see together with the original, wherever it travels."""

        async def action(node: Node) -> dict[str, Any]:
            original, channel = await find_post(node, post_id)
            changes: dict[str, Any] = {k: v for k, v in (("location", place), ("status", status)) if v}
            event = build_correction(node.key, channel, original, text, created_at=node.now(), **changes)
            return await publish(node, channel, [event])

        emit(run(with_node(action)), as_json, _published_text)

    @app.command("resolve")
    def resolve(
        post_id: str = typer.Argument(..., help="The help request that is resolved."),
        text: str = typer.Argument("", help="Optional note, e.g. who helped."),
        as_json: bool = JsonOption,
    ) -> None:
        """Mark a help request resolved (a correction setting its status)."""

        async def action(node: Node) -> dict[str, Any]:
            original, channel = await find_post(node, post_id)
            event = build_resolution(node.key, channel, original, text, created_at=node.now())
            return await publish(node, channel, [event])

        emit(run(with_node(action)), as_json, _published_text)

    @app.command("retract")
    def retract(
        post_id: str = typer.Argument(..., help="The post to withdraw."),
        reason: str = typer.Option(..., help="Why: readers see this instead of the post."),
        as_json: bool = JsonOption,
    ) -> None:
        """Withdraw a post visibly ("retracted by the channel, because ..."), with a NIP-09 deletion request
        when the post is your own."""

        async def action(node: Node) -> dict[str, Any]:
            original, channel = await find_post(node, post_id)
            retraction, deletion = build_retraction(node.key, channel, original, reason, created_at=node.now())
            return await publish(node, channel, [retraction] + ([deletion] if deletion else []))

        emit(run(with_node(action)), as_json, _published_text)

    @app.command("label")
    def label(
        post_id: str = typer.Argument(..., help="The post to label."),
        value: str = typer.Argument(..., help="confirmed, disputed, false or misleading."),
        reason: str = typer.Option("", help="Why."),
        as_json: bool = JsonOption,
    ) -> None:
        """As a verifier, label a post (NIP-32); readers who follow you see it with the post."""

        async def action(node: Node) -> dict[str, Any]:
            original, channel = await find_post(node, post_id)
            event = build_label(node.key, original, value, reason, created_at=node.now())
            return await publish(node, channel, [event])

        emit(run(with_node(action)), as_json, _published_text)

    @app.command("follow")
    def follow(
        target: str = typer.Argument(..., help="A channel's naddr (or address), or a verifier's npub."),
        relay: list[str] = typer.Option([], "--relay", help="Extra relay to find it at (repeatable)."),
        as_json: bool = JsonOption,
    ) -> None:
        """Follow a channel (`serve` keeps it in sync with its mirrors) or a verifier (their labels show)."""

        async def action(node: Node) -> dict[str, Any]:
            if target.strip().removeprefix("nostr:").startswith(("npub1", "nprofile1")):
                pubkey = nip19.parse_pubkey(target)
                added = node.local.follow_verifier(pubkey, node.clock())
                return {"verifier": nip19.npub_encode(pubkey), "added": added}
            pointer = parse_channel_address(target)
            address = f"{pointer.kind}:{pointer.pubkey}:{pointer.identifier}"
            added = node.local.follow(address, [*pointer.relays, *relay], node.clock())
            await node.store.forget_evicted(address)  # what was dropped as carried may come back now
            return {"channel": address, "relays": node.local.follows()[address], "added": added}

        data = run(with_node(action))
        emit(
            data,
            as_json,
            lambda d: (
                ("Following " if d["added"] else "Already following ")
                + (
                    f"verifier {d['verifier']}"
                    if "verifier" in d
                    else f"{d['channel']} via {', '.join(d['relays']) or 'no relay yet'}"
                )
            ),
        )

    @app.command("unfollow")
    def unfollow(target: str = typer.Argument(..., help="Channel naddr/address, or verifier npub.")) -> None:
        """Stop following a channel or a verifier (the posts already stored stay)."""

        async def action(node: Node) -> bool:
            if target.strip().removeprefix("nostr:").startswith(("npub1", "nprofile1")):
                return node.local.unfollow_verifier(nip19.parse_pubkey(target))
            return node.local.unfollow(_address_of(node, target))

        if not run(with_node(action)):
            raise UsageError(f"You do not follow {target[:70]}.")
        typer.echo("Unfollowed.")

    @app.command("feed")
    def feed(
        channel: str | None = typer.Argument(None, help="One channel; default: your own and followed ones."),
        limit: int = typer.Option(50, help="How many posts at most, newest first."),
        show_all: bool = typer.Option(False, "--all", help="Also list posts that do not count, with why."),
        as_json: bool = JsonOption,
    ) -> None:
        """Read channels: valid posts with their corrections, retractions and verifiers' labels."""
        from samizdat.cli.render import collect_feed

        async def action(node: Node) -> list[dict[str, Any]]:
            if channel is not None:
                channels = [await resolve_channel(node, channel)]
            else:
                channels = []
                own = await node.store.query(
                    [Filter(kinds=frozenset({kinds.CHANNEL}), authors=frozenset({node.key.public_key_hex}))]
                )
                addresses = [f"{kinds.CHANNEL}:{e.pubkey}:{e.d_tag}" for e in own] + list(node.local.follows())
                for address in dict.fromkeys(addresses):
                    found = await lookup_channel(node, address)
                    if found is not None:
                        channels.append(found)
            verifiers = {node.key.public_key_hex, *node.local.verifiers()}
            items = await collect_feed(node, channels, verifiers, limit=limit, include_invalid=show_all)
            return [post_json(item) for item in items]

        data = run(with_node(action))
        emit(data, as_json, render_feed)

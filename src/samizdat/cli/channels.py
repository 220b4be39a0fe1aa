"""Commands for channels and posts: ``channel create|edit|show|list|admins``, ``post``, ``correct``,
``retract``, ``resolve``, ``label``, ``vouch``, ``follow``, ``unfollow`` and ``feed``: options in, services, text
out. Text from the network is printed neutralised and isolated (:mod:`samizdat.core.display`): a name with a
right-to-left override cannot turn the line around.

A CHANNEL argument is an ``naddr``, an address ``30333:<owner hex>:<id>``, or the short name of one of your own
or followed channels. A POST argument is a hex id, any unambiguous prefix of it (8 characters or more), or a
``note``/``nevent``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

from samizdat.cli import removal
from samizdat.cli.common import JsonOption, emit, qr_text, run, with_node
from samizdat.cli.lookalikes import first_lines, lookalike_state, marks, trust_dict, warning_line
from samizdat.cli.photos import attachments_json, photos_text, prepare_files
from samizdat.cli.recovery import dispute_lines, new_recovery_key, seized_dict, seized_lines, write_recovery_file
from samizdat.cli.recovery import register as register_recovery
from samizdat.cli.render import post_json, render_feed, when
from samizdat.cli.texts import typed_text
from samizdat.cli.timeparse import parse_when
from samizdat.cli.web import appointed_by, appointed_text
from samizdat.core import geohash as gh
from samizdat.core import nip19
from samizdat.core.channel import ADMIN_ROLES, Channel
from samizdat.core.display import field, fingerprint, url
from samizdat.core.posts import POST_TYPES
from samizdat.errors import UsageError
from samizdat.services import channels, posts
from samizdat.services.context import Context
from samizdat.services.feed import feed as read_feed
from samizdat.services.publishing import Published

CHANNEL_HELP = "Channel: short name of your own or a followed one, naddr or address."
POST_HELP = "The post: id (8+ characters of it), note or nevent."
#: Posts of a run by one author shown before the rest fold into "+ N more posts by the same author" (`feed`).
FOLD = 3


def _published_text(data: dict[str, Any]) -> str:
    lines = [f"Published {data['ids'][0]}", *photos_text(data.get("photos", ()))]
    if data["pending"]:
        lines.append(
            f"Queued for {', '.join(data['pending'])}: `samizdat serve` keeps retrying; see `samizdat status`."
        )
    return "\n".join(lines)


def _channel_dict(channel: Channel) -> dict[str, Any]:
    return {
        "address": channel.address,
        "naddr": channel.naddr(),
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
        "media": list(channel.media),
        "updated_at": channel.created_at,
        "recovery": nip19.npub_encode(channel.recovery) if channel.recovery else None,
        **seized_dict(channel),
    }


def _with_result(channel: Channel, result: Published | None) -> dict[str, Any]:
    return {**_channel_dict(channel), **(result.to_dict() if result else {})}


def _channel_text(d: dict[str, Any]) -> str:
    """A channel for a person: every text from the network neutralised and isolated (core/display.py); with the
    trust fields (``channel show``), a collision first, then the name, the owner key's fingerprint and marks."""
    lines = first_lines(d)
    lines += seized_lines(d)
    lines.append(f"{field(d['name'])}  ({d['id']})")
    if "fingerprint" in d:
        lines.append(f"Fingerprint: {d['fingerprint']}  (the owner key; compare it with the one you were given)")
        lines += marks(d)
    lines.append(f"Owner: {d['owner']}")
    if d["about"]:
        lines += [field(line) for line in d["about"].splitlines()]
    if d["languages"]:
        lines.append("Languages: " + ", ".join(d["languages"]))
    if d["place"] or d["geohash"]:
        lines.append(f"Place: {field(d['place'])} {d['geohash']}".rstrip())
    for admin in d["admins"]:
        lines.append(f"{admin['role'].capitalize()}: {admin['npub']}")
    for former in d["revoked"]:
        lines.append(f"Removed: {former['npub']} (posts from {when(former['since'])} on do not count)")
    if d.get("kept_amendments"):
        lines.append(f"Kept {d['kept_amendments']} retraction(s) or correction(s) the removed key made before its "
                     "removal, signed again by you: readers no longer count a removed key's")  # fmt: skip
    # URLs written out (core/display.py url()): a mirror with a zero-width space or a Cyrillic letter is another host.
    lines.append("Mirrors: " + (", ".join(map(url, d["mirrors"])) or "none (posts stay on this node until synced)"))
    if d.get("media"):
        lines.append("Media servers: " + ", ".join(map(url, d["media"])))
    lines.append(f"Share: {d['naddr']}")
    return "\n".join(lines)


def _list_line(r: dict[str, Any]) -> str:
    if r.get("name") is None:
        return f"{r['relation']:8} (definition not synced yet)  {r['address']}  {r['fingerprint']}"
    line = f"{r['relation']:8} {field(r['name'])}  {r['id']}  {r['fingerprint']}"
    if r["vouched_by"]:
        line += f"  vouched ×{len(r['vouched_by'])}"
    if r["mixed_scripts"]:
        line += "  mixed alphabets: " + ", ".join(field(w) for w in r["mixed_scripts"])
    if r.get("seized_since") is not None:
        line += f"  OWNER KEY SEIZED {when(r['seized_since'])}: continues at {r['successor']}"
    if r.get("recovery_disputes"):
        line += "  RECOVERY KEYS DISAGREE (`samizdat channel show` says which)"
    if r["relation"] == "carried":
        line += f"  {r['address']}"
    first = first_lines(r)
    return (first[0] + "\n    " + line) if first else line


def _place_names(given: list[str]) -> dict[str, dict[str, str]]:
    """``--place-name`` values (``BY/Minsk=be:Мінск``) as level path -> language -> name."""
    out: dict[str, dict[str, str]] = {}
    for text in given:
        path, _, rest = text.partition("=")
        code, _, name = rest.partition(":")
        if not path or not code or not name:
            raise UsageError(f"--place-name takes PATH=LANG:NAME, such as BY/Minsk=be:Мінск, not {text[:60]!r}")
        out.setdefault(path.strip(), {})[code.strip()] = name.strip()
    return out


def _location(lat: float | None, lon: float | None, geohash: str | None) -> str | None:
    """The geohash of a place given as --lat/--lon or --geohash; None when neither was given."""
    if geohash:
        return geohash
    if lat is None and lon is None:
        return None
    if lat is None or lon is None or not (-90 <= lat <= 90 and -180 <= lon <= 180):
        raise UsageError("give both --lat (-90..90) and --lon (-180..180), or a --geohash")
    return gh.encode(lat, lon, 7)


# -- commands -------------------------------------------------------------------------------------------------


def register(app: typer.Typer) -> None:
    channel_app = typer.Typer(help="Create, edit, show and manage channels.", no_args_is_help=True)
    app.add_typer(channel_app, name="channel")
    register_recovery(channel_app)

    @channel_app.command("create")
    def channel_create(
        channel_id: str = typer.Argument(
            ..., metavar="NAME", help="Short name, e.g. minsk-frunzenski (a-z, 0-9, . _ -)."
        ),
        name: str = typer.Option(..., help="Channel name shown to readers."),
        about: str = typer.Option("", help="Description."),
        lang: list[str] = typer.Option([], "--lang", metavar="CODE", help="Language code(s), e.g. ru, be."),
        place: str = typer.Option("", help="Place path such as BY/Minsk/Frunzenski."),
        lat: float | None = typer.Option(None, help="Latitude of the place (for geohash tags)."),
        lon: float | None = typer.Option(None, help="Longitude of the place."),
        geohash: str | None = typer.Option(None, help="Geohash of the place, instead of --lat/--lon."),
        place_name: list[str] = typer.Option(
            [],
            "--place-name",
            metavar="PATH=LANG:NAME",
            help="A name of a level of the place in a language, e.g. 'BY/Minsk=be:Мінск' (repeat for more).",
        ),
        mirror: list[str] = typer.Option([], "--mirror", metavar="URL", help="Relay the channel publishes to."),
        media: list[str] = typer.Option([], "--media", metavar="URL", help="Blossom media server for photos."),
        recovery_file: Path | None = typer.Option(
            None, "--recovery-file", help="Also make a recovery key, written to this file to keep off the device."
        ),
        as_json: bool = JsonOption,
    ) -> None:
        """Create a channel owned by this node's key, and print its shareable address."""
        recovery = new_recovery_key(recovery_file) if recovery_file else None

        async def action(ctx: Context) -> dict[str, Any]:
            channel, result = await posts.create_channel(
                ctx, channel_id, name, about=about, languages=lang, place=place,
                geohash=_location(lat, lon, geohash) or "", mirrors=mirror, media=media,
                place_names=_place_names(place_name), recovery=recovery.public_key_hex if recovery else "",
            )  # fmt: skip
            if recovery is not None and recovery_file is not None:
                write_recovery_file(recovery_file, recovery, channel.event)
            return _with_result(channel, result)

        data = run(with_node(action))
        emit(data, as_json, lambda d: f"Created channel {field(d['name'])}\n{qr_text(d['naddr'])}{_channel_text(d)}")

    @channel_app.command("edit")
    def channel_edit(
        channel: str = typer.Argument(..., metavar="CHANNEL", help="Your channel (short name, address or naddr)."),
        name: str | None = typer.Option(None, help="New name."),
        about: str | None = typer.Option(None, help="New description."),
        lang: list[str] = typer.Option([], "--lang", metavar="CODE", help="Language code(s): replace the list."),
        place: str | None = typer.Option(None, help="New place path such as BY/Minsk/Frunzenski."),
        lat: float | None = typer.Option(None, help="New latitude of the place."),
        lon: float | None = typer.Option(None, help="New longitude of the place."),
        geohash: str | None = typer.Option(None, help="New geohash of the place."),
        place_name: list[str] = typer.Option(
            [],
            "--place-name",
            metavar="PATH=LANG:NAME",
            help="A name of a level of the place in a language, e.g. 'BY/Minsk=be:Мінск' (repeat; replaces the list).",
        ),
        mirror: list[str] = typer.Option([], "--mirror", metavar="URL", help="Mirror relays: replace the list."),
        no_mirrors: bool = typer.Option(False, "--no-mirrors", help="Remove every mirror."),
        media: list[str] = typer.Option([], "--media", metavar="URL", help="Media servers: replace the list."),
        no_media: bool = typer.Option(False, "--no-media", help="Remove every media server."),
        as_json: bool = JsonOption,
    ) -> None:
        """Change a channel's name, description, languages, place or mirrors (a new version of its definition;
        admins stay)."""
        if no_mirrors and mirror:
            raise UsageError("give --mirror or --no-mirrors, not both")
        if no_media and media:
            raise UsageError("give --media or --no-media, not both")

        async def action(ctx: Context) -> dict[str, Any]:
            updated, result = await posts.edit_channel(
                ctx, channel, name=name, about=about, languages=lang or None, place=place,
                geohash=_location(lat, lon, geohash), mirrors=[] if no_mirrors else (mirror or None),
                media=[] if no_media else (media or None),
                place_names=_place_names(place_name) if place_name else None,
            )  # fmt: skip
            return _with_result(updated, result)

        emit(run(with_node(action)), as_json, lambda d: "Updated channel " + _channel_text(d))

    @channel_app.command("show")
    def channel_show(
        channel: str = typer.Argument(..., metavar="CHANNEL", help=CHANNEL_HELP),
        qr: bool = typer.Option(True, help="Draw the naddr as a QR code."),
        as_json: bool = JsonOption,
    ) -> None:
        """Show a channel's definition and the naddr to share (with a QR code)."""

        async def action(ctx: Context) -> dict[str, Any]:
            found = await channels.resolve(ctx, channel)
            entry = await channels.entry(ctx, found)
            near = {*entry.collides_with, *entry.lookalikes}
            named = {e.address: e for e in await channels.directory(ctx) if e.address in near}
            return {**_channel_dict(found), **trust_dict(entry, named)}

        data = run(with_node(action))
        emit(data, as_json, lambda d: (qr_text(d["naddr"]) if qr else "") + _channel_text(d))

    @channel_app.command("list")
    def channel_list(
        vouched: bool = typer.Option(False, "--vouched", help="Only channels a verifier you trust vouches for."),
        as_json: bool = JsonOption,
    ) -> None:
        """List the channels this node knows: your own, followed ones, and others it carries, each with the
        fingerprint of its owner key; a channel named like one you follow is marked first."""

        async def action(ctx: Context) -> list[dict[str, Any]]:
            entries = await channels.directory(ctx)
            named = {e.address: e for e in entries}
            return [
                {**(_channel_dict(e.channel) if e.channel else {"address": e.address, "name": None}),
                 **trust_dict(e, named)}
                for e in entries
                if e.vouched_by or not vouched
            ]  # fmt: skip

        data = run(with_node(action))
        empty = (
            "No channel here is vouched for by a verifier you trust (`samizdat follow npub1...` adds a verifier)."
            if vouched
            else "No channels yet: `samizdat channel create` or `samizdat follow`."
        )
        emit(data, as_json, lambda rows: "\n".join(_list_line(r) for r in rows) or empty)

    @channel_app.command("admins")
    def channel_admins(
        channel: str = typer.Argument(..., metavar="CHANNEL", help="Your channel (short name, address or naddr)."),
        add: list[str] = typer.Option([], "--add", metavar="NPUB", help="npub (or hex) to appoint (repeatable)."),
        role: str = typer.Option(
            "admin", help="Role for --add: admin (own, editors' and former admins' posts) or editor (own posts)."
        ),
        remove: list[str] = typer.Option([], "--remove", metavar="NPUB", help="npub (or hex) to remove."),
        since: str | None = typer.Option(
            None,
            help="For --remove: their posts from this time on stop counting "
            "(default now; earlier if the key was compromised earlier).",
        ),
        review: bool = typer.Option(
            False, "--review", help="For --remove: list the retractions and corrections it would keep; change nothing."
        ),
        keep: list[str] = typer.Option(
            [],
            "--keep",
            metavar="ID",
            help="For --remove: keep this amendment of another's post, or one the key withdrew (its id from --review; "
            "repeatable); those not named are not kept.",
        ),  # fmt: skip
        keep_all: bool = typer.Option(
            False, "--keep-all", help="For --remove: keep every amendment --review lists, those of others' posts too."
        ),
        keep_none: bool = typer.Option(
            False,
            "--keep-none",
            help="For --remove: keep no amendment of others' posts nor any it withdrew (its own posts' are kept).",
        ),
        drop: list[str] = typer.Option(
            [],
            "--drop",
            metavar="ID",
            help="For --remove: leave out this amendment of its own post, or the post (id from --review; repeatable).",
        ),
        as_json: bool = JsonOption,
    ) -> None:
        """List, appoint or remove a channel's admins (the owner republishes the definition). A removal keeps, as
        yours, the retractions and corrections the key made before --since; those of others' posts, and those the
        key deleted itself, only those you name after a look (--review, then --keep ID, --keep-all or --keep-none)."""
        if role not in ADMIN_ROLES:
            raise UsageError(f"--role is one of {', '.join(ADMIN_ROLES)}")
        if (review or keep or keep_all or keep_none or drop) and not remove:
            raise UsageError("--review, --keep, --keep-all, --keep-none and --drop go with --remove")
        if (bool(keep) + keep_all + keep_none) > 1:
            raise UsageError("give one of --keep ID, --keep-all and --keep-none")

        async def action(ctx: Context) -> Any:
            removing = [nip19.parse_pubkey(t) for t in remove]
            at = parse_when(since, ctx.now()) if since else None
            chosen: list[str] | None = [] if keep_none else None
            dropped: list[str] = []
            if review or drop or keep:
                kept = await posts.review_removal(ctx, channel, remove=removing, since=at)
                if review:
                    return removal.review_dict(kept)
                dropped = removal.resolve_drop(drop, kept)
                if keep:  # the amendments named, as the review shows them now: one arriving later is not kept
                    chosen = removal.resolve_keep(keep, kept)
            try:
                appointing = [nip19.parse_pubkey(t) for t in add]
                updated, result = await posts.change_admins(ctx, channel, add=appointing, role=role, remove=removing,
                                                            since=at, drop=dropped, keep=chosen,
                                                            keep_all=keep_all)  # fmt: skip
            except posts.NotReviewed as exc:
                raise removal.not_reviewed(exc) from exc
            data = _with_result(updated, result)
            if said := appointed_by(ctx.home, updated):  # which operator login appointed whom (cli/web.py)
                data["appointed_by"] = said
            if remove and result is not None:  # the definition's id, then the amendments kept (change_admins)
                data["kept_amendments"] = len(result.ids) - 1
            return data

        data = run(with_node(action))
        emit(data, as_json, removal.review_text if review else lambda d: _channel_text(d) + appointed_text(d))

    @app.command("post")
    def post(
        channel: str = typer.Argument(
            ..., metavar="CHANNEL", help="Channel: short name of your own or a followed one, naddr or address."
        ),
        text: str | None = typer.Argument(
            None,
            metavar="[TEXT]",
            help="The post's text; if not given (or -), read from standard input or an editor. Typed here, it stays "
            "in your shell's history.",
        ),
        post_type: str = typer.Option("news", "--type", help=f"One of: {', '.join(POST_TYPES[:-2])}."),
        subject: str = typer.Option("", help="A title."),
        tag: list[str] = typer.Option([], "--tag", metavar="TAG", help="Hashtag (repeatable)."),
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
        give: list[str] = typer.Option([], "--give", metavar="HOW", help="appeal: how to give (repeatable)."),
        fund: list[str] = typer.Option([], "--fund", metavar="HOW", help="appeal: same as --give."),
        target: str | None = typer.Option(None, help="appeal: target amount and currency, e.g. '5000 EUR'."),
        force: bool = typer.Option(False, "--force", help="event: publish even though the start is in the past."),
        photo: list[Path] = typer.Option(
            [], "--photo", metavar="FILE", help="A photo (JPEG, PNG, WebP, HEIC) to add, cleaned first (repeatable)."
        ),
        alt: list[str] = typer.Option(
            [], "--alt", metavar="TEXT", help="What a photo shows, in words (repeatable, in the order of --photo)."
        ),
        no_blur: bool = typer.Option(False, "--no-blur", help="Do not blur the faces found in the photos."),
        blur_region: list[str] = typer.Option(
            [],
            "--blur-region",
            metavar="N:X,Y,W,H",
            help="Blur this box of photo N too (a tattoo, a sign): left, top, width, height as fractions (repeatable).",
        ),
        as_json: bool = JsonOption,
    ) -> None:
        """Publish a signed post of any type to a channel you own or administer, with photos if given."""
        if post_type in POST_TYPES[-2:]:  # correction, retraction: they need the post they amend
            verb = "correct" if post_type == POST_TYPES[-2] else "retract"
            raise UsageError(f"a {post_type} amends a post: use `samizdat {verb} <post-id>`")

        async def action(ctx: Context) -> dict[str, Any]:
            now = ctx.now()
            fields: dict[str, Any] = {}
            for name, value in (
                ("location", place), ("need", need), ("status", status), ("role", role), ("reach", reach),
                ("hours", hours), ("purpose", purpose),
            ):  # fmt: skip
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
            if posts.start_in_past(post_type, fields, now) and not force:
                raise UsageError(
                    f"the event's start ({when(fields['start'])}) is in the past; check the date, or give --force"
                )
            result = await posts.post(
                ctx, channel, post_type, body, subject=subject, hashtags=tag, fields=fields, photos=attachments
            )
            return {**result.to_dict(), "photos": attachments_json(attachments, face_blur=not no_blur)}

        # the photos first: a file that cannot be used is refused before anyone types the text in an editor
        attachments = prepare_files(photo, alt, blur_faces=not no_blur, regions=blur_region)
        body = typed_text(text, what="post")

        emit(run(with_node(action)), as_json, _published_text)

    @app.command("correct")
    def correct(
        post_id: str = typer.Argument(..., metavar="POST", help=POST_HELP),
        text: str | None = typer.Argument(
            None,
            metavar="[TEXT]",
            help="The corrected text (empty keeps the text); if not given (or -), read from standard input or an "
            "editor.",
        ),
        place: str = typer.Option("", help="Corrected location."),
        status: str = typer.Option("", help="Corrected status (help: open/resolved)."),
        as_json: bool = JsonOption,
    ) -> None:
        """Publish a correction that readers see together with the original, wherever it travels."""
        body = typed_text(text, what="correction", empty_ok=bool(place or status))

        async def action(ctx: Context) -> dict[str, Any]:
            changes: dict[str, Any] = {k: v for k, v in (("location", place), ("status", status)) if v}
            return (await posts.correct(ctx, post_id, body, changes)).to_dict()

        emit(run(with_node(action)), as_json, _published_text)

    @app.command("resolve")
    def resolve(
        post_id: str = typer.Argument(
            ..., metavar="POST", help="The help request that is resolved (id, 8+ characters, nevent)."
        ),
        text: str = typer.Argument("", help="Optional note, e.g. who helped; the request's text stays."),
        as_json: bool = JsonOption,
    ) -> None:
        """Mark a help request resolved; readers see the request with "resolved" and your note."""

        async def action(ctx: Context) -> dict[str, Any]:
            return (await posts.resolve(ctx, post_id, text)).to_dict()

        emit(run(with_node(action)), as_json, _published_text)

    @app.command("retract")
    def retract(
        post_id: str = typer.Argument(..., metavar="POST", help=POST_HELP),
        reason: str = typer.Option(..., help="Why: readers see this instead of the post."),
        as_json: bool = JsonOption,
    ) -> None:
        """Withdraw a post visibly ("retracted by the channel, because ..."), with a deletion request if yours."""

        async def action(ctx: Context) -> dict[str, Any]:
            return (await posts.retract(ctx, post_id, reason)).to_dict()

        emit(run(with_node(action)), as_json, _published_text)

    @app.command("label")
    def label(
        post_id: str = typer.Argument(..., metavar="POST", help=POST_HELP),
        value: str = typer.Argument(..., help="confirmed, disputed, false or misleading."),
        reason: str = typer.Option("", help="Why."),
        as_json: bool = JsonOption,
    ) -> None:
        """As a verifier, label a post (NIP-32); readers who follow you see it with the post."""

        async def action(ctx: Context) -> dict[str, Any]:
            return (await posts.label(ctx, post_id, value, reason)).to_dict()

        emit(run(with_node(action)), as_json, _published_text)

    @app.command("vouch")
    def vouch(
        channel: str = typer.Argument(..., metavar="CHANNEL", help="naddr or address (or yours/followed short name)."),
        reason: str = typer.Option("", help="Why: how you know this key is the channel's (readers can see it)."),
        withdraw: bool = typer.Option(False, "--withdraw", help="Withdraw your vouch for this channel."),
        as_json: bool = JsonOption,
    ) -> None:
        """As a verifier, vouch that a channel (its owner key) is the real one; readers who follow you see it
        marked, and can list only vouched channels (`channel list --vouched`). --withdraw takes it back."""

        async def action(ctx: Context) -> dict[str, Any]:
            if withdraw:
                address, result = await posts.unvouch(ctx, channel, reason)
                return {"address": address, "withdrawn": True, **result.to_dict()}
            found, result = await posts.vouch(ctx, channel, reason)
            entry = await channels.entry(ctx, found)
            recovery = posts.vouched_recovery_key(ctx, found)
            return {"address": found.address, "name": found.name, "fingerprint": entry.fingerprint,
                    "recovery": nip19.npub_encode(recovery) if recovery else None, **seized_dict(found),
                    "withdrawn": False, **result.to_dict()}  # fmt: skip

        def text(d: dict[str, Any]) -> str:
            if d["withdrawn"]:
                head = f"Withdrew your vouch for {d['address']}"
            else:
                head = f"You vouch for {field(d['name'])}, owner key {d['fingerprint']}"
                if d["recovery"]:  # what readers new to the channel honour if its owner key is seized
                    head += f", recovery key {d['recovery']}"
                # Verifiers this node trusts name another recovery key: the verifier vouching sees it too.
                head = "\n".join([*dispute_lines(d), head])
            return head + "\n" + _published_text(d)

        emit(run(with_node(action)), as_json, text)

    @app.command("follow")
    def follow(
        target: str = typer.Argument(
            ..., metavar="CHANNEL-OR-NPUB", help="A channel's naddr (or address), or a verifier's npub."
        ),
        relay: list[str] = typer.Option([], "--relay", metavar="URL", help="Extra relay to find it at."),
        anyway: bool = typer.Option(
            False, "--anyway", help="Follow a channel named like one you follow or your verifiers vouch for."
        ),
        as_json: bool = JsonOption,
    ) -> None:
        """Follow a channel (`serve` keeps it in sync with its mirrors) or a verifier (their labels show). A
        channel of another key named like one you follow is refused unless --anyway: once followed, the warning
        would move to the real one."""

        async def action(ctx: Context) -> dict[str, Any]:
            before = await lookalike_state(ctx, target)
            if before and before["warned"] and not anyway:
                raise UsageError(
                    "not followed: " + warning_line(before).removeprefix("!! ").lower() + ". Compare the "
                    "fingerprints with someone you trust; if this one is the real one, add --anyway"
                )
            done: dict[str, Any] = {**await channels.follow(ctx, target, relay)}
            if "verifier" in done:  # an npub's first and last letters can be ground to match a trusted one's
                done["fingerprint"] = fingerprint(nip19.npub_decode(done["verifier"]))
            return {**(before or {}), **done}

        def text(d: dict[str, Any]) -> str:
            head = "Following " if d["added"] else "Already following "
            if "verifier" in d:
                return head + (
                    f"verifier {d['verifier']}\nFingerprint: {d['fingerprint']}  (compare all of it with the one the "
                    "verifier gave you in person: the first and last letters of an npub can be copied)"
                )
            via = ", ".join(d["relays"]) or "no relay yet (give --relay, or sync with a node that has it)"
            lines = [*first_lines(d), head + f"channel {d['channel'].split(':', 2)[2]} of {d['owner']} via {via}"]
            if d.get("name") is not None:
                lines.append(f"Name: {field(d['name'])}  Fingerprint: {d['fingerprint']}")
            return "\n".join(lines)

        emit(run(with_node(action)), as_json, text)

    @app.command("unfollow")
    def unfollow(
        target: str = typer.Argument(
            ..., metavar="CHANNEL-OR-NPUB", help="Channel (short name, naddr, address) or npub."
        ),
    ) -> None:
        """Stop following a channel or a verifier (the posts already stored stay)."""

        async def action(ctx: Context) -> None:
            await channels.unfollow(ctx, target)

        run(with_node(action))
        typer.echo("Unfollowed.")

    @app.command("feed")
    def feed(
        channel: str | None = typer.Argument(
            None, metavar="[CHANNEL]", help="One channel; default: your own and followed ones."
        ),
        limit: int = typer.Option(50, min=1, help="How many posts at most, newest first."),
        show_all: bool = typer.Option(False, "--all", help="Also list posts that do not count, with why."),
        nevent: bool = typer.Option(False, "--nevent", help="Show each post's nevent instead of its short id."),
        unfold: bool = typer.Option(
            False, "--unfold", help="Show every post of a run by one author (else: '+ N more' past the third)."
        ),
        as_json: bool = JsonOption,
    ) -> None:
        """Read channels: valid posts with their corrections, retractions and verifiers' labels."""

        async def action(ctx: Context) -> tuple[list[dict[str, Any]], list[str]]:
            # A run of one author's posts past the third is folded for people (not in --json, which scripts read),
            # so that a flood does not hide the others' posts.
            fold = 0 if unfold or as_json else FOLD
            items = await read_feed(ctx, channel, limit=limit, include_invalid=show_all, fold=fold)
            # One channel named by its link may be a look-alike: said before its posts, as `channel show` does.
            state = await lookalike_state(ctx, channel) if channel else None
            # A seized channel says so first, and where it continues.
            seized = [line for c in await channels.feed_channels(ctx, channel) for line in seized_lines(seized_dict(c))]
            return [post_json(item) for item in items], [*seized, *(first_lines(state) if state else [])]

        data, first = run(with_node(action))
        emit(data, as_json, lambda items: "\n".join([*first, render_feed(items, nevent=nevent)]))

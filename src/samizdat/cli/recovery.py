"""A channel's recovery key on the command line: ``channel create --recovery-file``, ``channel recovery`` and
``channel seized`` (docs/protocol.md, "Recovery"; the rule is :mod:`samizdat.core.recovery`).

The recovery key is made here and never kept by the node: it is written once to a file the owner moves off the
device (a stick in a drawer elsewhere, a trusted person abroad), as a NIP-49 ``ncryptsec`` under a password the
owner chooses, followed by the signed definition that names it. The file alone is then enough to declare the
owner key seized from any node, even when whoever holds the owner key has since published a definition without
the recovery key.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import typer

from samizdat.cli.common import JsonOption, ask_passphrase, emit, run, warn, with_node
from samizdat.cli.render import when
from samizdat.cli.timeparse import parse_when
from samizdat.core import nip19, nip49
from samizdat.core import recovery_file as file_text
from samizdat.core.channel import Channel, parse_channel
from samizdat.core.display import fingerprint
from samizdat.core.event import Event, parse_event_json
from samizdat.core.keys import SecretKey
from samizdat.errors import RemoteProtocolError, UsageError
from samizdat.services import channels, posts
from samizdat.services.context import Context

RECOVERY_WARNING = (
    "move the recovery file off this device now (a stick kept elsewhere, a person you trust abroad) and delete it "
    "here: whoever seizes this device with it can take the channel away from you for good"
)


def new_recovery_key(path: Path) -> SecretKey:
    """A fresh recovery key, after checking that ``path`` can be written (refused if it exists)."""
    if path.exists():
        raise UsageError(f"{path} exists already; give another --recovery-file")
    if not path.parent.is_dir():
        raise UsageError(f"no folder {path.parent} for the recovery file")
    return SecretKey.generate()


def write_recovery_file(path: Path, key: SecretKey, definition: Event) -> None:
    """Write the recovery file: a comment, the key as an ``ncryptsec`` under a password asked for here, and the
    definition naming it (the proof a claim carries), sealed under the same password (core/recovery_file.py).
    Raises UsageError."""
    parse_channel(definition)  # not a channel definition: refused before the password is asked
    password = ask_passphrase(
        "Recovery file password (not the node's passphrase): ",
        missing="a password for the recovery file is needed",
        confirm=True,
    )
    sealed = nip49.encrypt(key.secret, password, key_security=nip49.NOT_KNOWN_INSECURE)
    # The definition sealed too: a stick found in a search gave the channel's name, address, owner and mirrors.
    salt, nonce = os.urandom(file_text.SALT), os.urandom(file_text.NONCE)
    text = file_text.render(sealed, definition.to_json(), password, salt=salt, nonce=nonce)
    try:
        with path.open("x", encoding="utf-8") as out:
            out.write(text)
    except OSError as exc:
        raise UsageError(f"cannot write the recovery file {path}: {exc.strerror}") from exc
    warn(RECOVERY_WARNING)


def read_recovery_file(path: Path) -> tuple[SecretKey, Event]:
    """The recovery key (asking for the file's password) and the definition naming it. Raises UsageError."""
    try:
        lines = [ln.strip() for ln in path.read_text(encoding="utf-8").splitlines() if ln.strip()]
    except (OSError, UnicodeDecodeError) as exc:
        raise UsageError(f"cannot read the recovery file {path}") from exc
    try:
        found = file_text.parse("\n".join(lines))
    except file_text.NotARecoveryFile:
        raise UsageError(f"{path} is not a Samizdat recovery file") from None
    if not found.sealed:  # a file of the first version: its definition can be checked before the password
        _definition(path, found.definition)
    nip49.parse(found.ncryptsec)
    password = ask_passphrase("Recovery file password: ", missing="the recovery file's password is needed")
    try:
        key = SecretKey(nip49.decrypt(found.ncryptsec, password))
    except ValueError as exc:
        raise UsageError("the recovery file holds no valid secret key") from exc
    try:
        definition, channel = _definition(path, file_text.definition_json(found, password))
    except ValueError as exc:
        raise UsageError(f"{path}: {exc}") from exc
    if key.public_key_hex != channel.recovery:
        raise UsageError("the key in the recovery file is not the recovery key its definition names")
    return key, definition


def _definition(path: Path, text: str) -> tuple[Event, Channel]:
    try:
        definition = parse_event_json(text)
        return definition, parse_channel(definition)
    except RemoteProtocolError as exc:
        raise UsageError(f"the definition in {path} is not valid: {exc}") from exc


def dispute_lines(d: dict[str, Any]) -> list[str]:
    """What a reader is told first when verifiers it trusts vouched for the channel naming another recovery key
    than the one its node honours (core/recovery.py, rule 4): both keys, who vouched, where each key's claim
    points, and that nothing was switched."""
    disputes = d.get("recovery_disputes") or []
    if not disputes:
        return []
    honoured = d.get("recovery_honoured")
    ours = f"recovery key {honoured['fingerprint']} ({honoured['npub']})" if honoured else "no recovery key"
    lines = [f"!! RECOVERY KEYS DISAGREE: this node honours {ours} for this channel, and a verifier you trust "
             "names another:"]  # fmt: skip
    for other in disputes:
        line = (
            f"!!   {', '.join(other['verifiers'])} vouched for it naming recovery key {other['fingerprint']} "
            f"({other['npub']})"
        )
        if other["successor"]:
            line += (
                f", whose claim says the owner key was seized and it continues at {other['successor']} "
                f"(fingerprint {other['successor_fingerprint']})"
            )
        lines.append(line + ".")
    lines.append(
        "!! Only the key this node honours decides where the channel continues; no vouch switches it. Ask the "
        "channel's people, in person, which recovery key is theirs before you follow where either points."
    )
    return lines


def seized_lines(d: dict[str, Any]) -> list[str]:
    """What a reader is told first about a seized channel, or one whose recovery keys disagree (``d`` holds
    :func:`seized_dict`'s fields)."""
    lines = dispute_lines(d)
    if d.get("seized_since") is None:
        return lines
    # Disputed, the command to follow is not offered: the reader decides which key is the channel's (below).
    follow = ", says the recovery key this node honours" if lines else f": `samizdat follow {d['successor']}`"
    return [
        f"!! THIS CHANNEL'S OWNER KEY WAS SEIZED on {when(d['seized_since'])}: its posts and changes from then on "
        "do not count.",
        f"!! It continues at {d['successor']} (fingerprint {d['successor_fingerprint']}){follow}",
        *lines,
    ]


def _key_dict(key: str) -> dict[str, str]:
    return {"npub": nip19.npub_encode(key), "fingerprint": fingerprint(key)}


def seized_dict(channel: Channel) -> dict[str, Any]:
    """The seizure fields of ``channel`` for ``--json``: since when and where it continues when seized, and the
    recovery keys trusted verifiers name besides the one honoured when they disagree (empty for neither)."""
    out: dict[str, Any] = {}
    if channel.recovery_disputes:
        out["recovery_honoured"] = _key_dict(channel.recovery_honoured) if channel.recovery_honoured else None
        out["recovery_disputes"] = [
            {
                **_key_dict(d.key),
                "verifiers": [nip19.npub_encode(v) for v in d.verifiers],
                "successor": d.successor,
                "successor_fingerprint": fingerprint(d.successor.split(":", 2)[1]) if d.successor else "",
            }
            for d in channel.recovery_disputes
        ]
    if channel.seized_since is None:
        return out
    owner = channel.successor.split(":", 2)[1]
    return {"seized_since": channel.seized_since, "successor": channel.successor,
            "successor_fingerprint": fingerprint(owner), **out}  # fmt: skip


def register(channel_app: typer.Typer) -> None:
    @channel_app.command("recovery")
    def channel_recovery(
        channel: str = typer.Argument(..., metavar="CHANNEL", help="Your channel (short name, address or naddr)."),
        recovery_file: Path = typer.Option(..., "--recovery-file", help="Where to write the new recovery key."),
        as_json: bool = JsonOption,
    ) -> None:
        """Name a recovery key for one of your channels, written to a file you keep off this device."""
        key = new_recovery_key(recovery_file)

        async def action(ctx: Context) -> dict[str, Any]:
            updated, _ = await posts.name_recovery_key(ctx, channel, key.public_key_hex)
            write_recovery_file(recovery_file, key, updated.event)
            return {"address": updated.address, "recovery_file": str(recovery_file)}

        emit(run(with_node(action)), as_json, lambda d: f"Recovery key written to {d['recovery_file']}")

    @channel_app.command("seized")
    def channel_seized(
        channel: str = typer.Argument(..., metavar="CHANNEL", help="The channel whose owner key was seized."),
        recovery_file: Path = typer.Option(..., "--recovery-file", help="The channel's recovery file."),
        successor: str = typer.Option(..., "--successor", metavar="NADDR", help="The channel it continues at."),
        since: str | None = typer.Option(
            None, help="From when the owner key is not to be trusted (date-time or Unix time; default: now)."
        ),
        message: str = typer.Option("", help="A few words for the readers."),
        as_json: bool = JsonOption,
    ) -> None:
        """Say, with the recovery key, that a channel's owner key was seized and where the channel continues."""
        key, proof = read_recovery_file(recovery_file)

        async def action(ctx: Context) -> dict[str, Any]:
            named = channels.address_from_text(channel)
            if named != parse_channel(proof).address:
                raise UsageError("the recovery file is for another channel")
            start = ctx.now() if since is None else parse_when(since, ctx.now())
            event, result = await posts.declare_seized(ctx, key, proof, successor, since=start, message=message)
            return {"id": event.id, "since": start, **result.to_dict()}

        emit(run(with_node(action)), as_json, lambda d: f"Published {d['id']}: the owner key counts no more from "
             f"{when(d['since'])}" + (f"\nQueued for {', '.join(d['pending'])}" if d["pending"] else ""))  # fmt: skip

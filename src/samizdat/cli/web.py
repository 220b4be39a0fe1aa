"""``samizdat web login`` / ``codes`` / ``logout``: the operator's codes for the web app (see
samizdat.web.operator)."""

from __future__ import annotations

import asyncio
import contextlib
import time
from pathlib import Path
from typing import Any

import typer

from samizdat.cli.common import JsonOption, emit, home, node_keys, qr_text, run, with_node
from samizdat.cli.render import plural, when
from samizdat.cli.timeparse import parse_duration, parse_since
from samizdat.config import load_config, load_identity
from samizdat.core import nip19
from samizdat.core.channel import Channel
from samizdat.core.display import neutralize
from samizdat.errors import UsageError
from samizdat.services import channels, operator_codes, posts
from samizdat.services.context import Context
from samizdat.services.instance import running_address
from samizdat.web.operator import (
    DEFAULT_LIFETIME,
    MIN_ID_CHARS,
    OperatorCode,
    code_of,
    forget_admin_changes,
    forget_tokens,
    list_codes,
    list_records,
    new_token,
    revoke_code,
)
from samizdat.web.operator_changes import ChangeRecord, chosen_to_stay, describe, grants, undo_state, undo_step

#: Why ``--undo`` leaves a change that took something from a key: the owner's own, from that phone, looks the same.
GRANTS = (
    "putting it back would make more of the key's posts count again; if it was yours from that phone (an arrested "
    "admin removed), it must stay: if not, run the command"
)

web_app = typer.Typer(help="The web app served by `samizdat serve`: operator login.", no_args_is_help=True)


def register(app: typer.Typer) -> None:
    app.add_typer(web_app, name="web")


@web_app.command("login")
def login(
    host: str | None = typer.Option(None, help="Address phones use to reach this node (default: from config)."),
    port: int | None = typer.Option(None, help="Port of `samizdat serve` (default: where it runs, else config)."),
    expires: str = typer.Option(
        f"{DEFAULT_LIFETIME // 86400}d", help="How long the code works, e.g. 12h, 7d, 2w (at most a year)."
    ),
    qr: bool = typer.Option(True, help="Also draw the link as a QR code."),
    as_json: bool = JsonOption,
) -> None:
    """Make a one-person operator code and print the link that logs a browser in as this node's key.

    Anyone with the link can post as the node's operator: open it only on your own phone. `samizdat web codes`
    lists the codes, `samizdat web logout ID` revokes one, `samizdat web logout --all` every one.
    """
    path = home()
    # A clear error before `samizdat init`; on an encrypted node, only who can unlock it may log in as it.
    keys = node_keys(path)
    load_identity(path, keys)
    operator_codes.use(path, keys)  # the code's hash is sealed in the codes file (services/operator_codes.py)
    lifetime = parse_duration(expires)
    running = running_address(path)  # a running `serve` may listen elsewhere than the config says (--port)
    config = load_config(path)
    if running is not None:
        config = config.with_overrides(host=running[0], port=running[1])
    config = config.with_overrides(host=host, port=port)
    shown = config.host if config.host not in ("0.0.0.0", "::", "") else "127.0.0.1"
    token = new_token(path, lifetime=lifetime)
    code = code_of(path, token)
    if code is None:  # another process rewrote the file in between: unheard of, but say so rather than lie
        raise UsageError("the new operator code was not kept; run `samizdat web login` again")
    url = f"http://{shown}:{config.port}/#op={token}"
    note = "" if shown == config.host else "\n(replace 127.0.0.1 with this node's address on the hub's network)"
    emit({"url": url, "token": token, "id": code.id, "expires": code.expires}, as_json,
         lambda d: (qr_text(url) if qr else "") + f"Operator link (keep it private): {url}{note}\n"
                   f"Code {code.id}, valid until {when(code.expires)}.")  # fmt: skip


def _codes_text(data: dict[str, Any]) -> str:
    rows, ended = data["codes"], data["ended"]
    lines = ["No operator codes. `samizdat web login` makes one."] if not rows else []
    now = time.time()
    if rows:
        lines.append(f"{'ID':<10}{'CREATED':<18}{'EXPIRES':<29}{'LAST USED':<18}ADMIN CHANGES")
    for row in rows:
        expires = when(row["expires"]) + (" (expired)" if row["expires"] <= now else "")
        lines.append(f"{row['id']:<10}{when(row['created']):<18}{expires:<29}{when(row['last_used']):<18}"
                     f"{row['admin_changes']}")  # fmt: skip
    for row in ended:
        lines.append(f"Login {row['id']} (revoked or expired {when(row['ended'])}) changed the admins "
                     f"{plural(row['admin_changes'], 'time')}: `samizdat web logout {row['id']}` shows how, "
                     "`--undo` puts them back.")  # fmt: skip
    return "\n".join(lines)


@web_app.command("codes")
def codes(as_json: bool = JsonOption) -> None:
    """List the operator codes: id, when made, when they expire, when last used, how many admin changes their
    login made (the codes themselves are never stored); then the revoked logins that changed admins."""
    now, path = time.time(), home()
    counts = {record.id: record for record in list_records(path)}
    rows = [{**code.to_dict(now), "admin_changes": counts[code.id].count if code.id in counts else 0}
            for code in list_codes(path)]  # fmt: skip
    ended = [{"id": r.id, "ended": r.ended, "admin_changes": r.count} for r in counts.values() if r.ended]
    emit(rows if as_json else {"codes": rows, "ended": ended}, as_json, _codes_text)  # --json: the codes as before


@web_app.command("logout")
def logout(
    code_id: str | None = typer.Argument(None, metavar="CODE-ID", help="The code to revoke (`samizdat web codes`)."),
    all_codes: bool = typer.Option(False, "--all", help="Revoke every code (also what no CODE-ID does)."),
    undo: bool = typer.Option(
        False,
        "--undo",
        help="Also take back what the login gave in your channels' admins: keys it appointed or promoted, a "
        "removal's --since it moved later (publishes, as `samizdat channel admins` does; unlocks the node). A key it "
        "removed or demoted is left as it is, with the command that puts it back.",
    ),
    since: str | None = typer.Option(
        None,
        "--since",
        metavar="TIME",
        help="When the phone or link left your hands (2026-11-22T18:00, a Unix time, or 2d: that long ago): "
        "--undo leaves what the login last changed before then (your own changes from that phone), listed with "
        "its command. Default: --undo takes back all the login gave.",
    ),
    keep: list[str] = typer.Option(
        [],
        "--keep",
        metavar="KEY",
        help="A key (npub or hex) whose appointment --undo leaves: an honest admin you appointed from that phone "
        "before it was lost. Repeat for several.",
    ),
    as_json: bool = JsonOption,
) -> None:
    """Revoke one operator code, or every one: browsers logged in with it can no longer act as this node. Then
    say what the login changed in the admins of your channels, and how to undo it (`--undo` does)."""
    path = home()
    # Checked before anything is revoked: a mistyped choice loses nothing.
    lost = _lost_at(since) if since is not None else None
    kept = frozenset(_key(key) for key in keep)
    if code_id is not None and not all_codes:
        code, ids = _revoke_one(path, code_id)
        data: dict[str, Any] = {"revoked": int(code is not None), "id": ids[0]}
        said = f"Revoked operator code {ids[0]}." if code else f"Operator code {ids[0]} was already revoked."
    else:
        count = forget_tokens(path)
        ids = [record.id for record in list_records(path)]
        data, said = {"revoked": count}, f"Revoked {plural(count, 'operator code')}."
    if undo and ids:
        try:
            data.update(run(with_node(lambda ctx: _undo(ctx, set(ids), lost, kept))))
        except UsageError:
            typer.echo(said)  # the revocation stands, whatever stopped the undoing
            raise
    else:
        if records := _readable(path, set(ids)):  # the answer is as before for a login that changed no admin
            data["admin_changes"] = [_record_dict(r, lost, kept) for r in records]  # what --undo would leave
    emit(data, as_json, lambda d: "\n".join([said, *_changes_text(d)]))


def _lost_at(text: str) -> int:
    """The time ``--since`` gives (a duration: that long ago); UsageError for one in the future."""
    now = int(time.time())
    moment = parse_since(text, now)
    if moment > now:
        raise UsageError(f"--since {text[:40]!r} is in the future: give when the phone or link left your hands")
    return moment


def _key(text: str) -> str:
    try:
        return nip19.parse_pubkey(text)
    except UsageError as exc:
        raise UsageError(f"--keep {text[:70]!r}: {exc}") from exc


def _revoke_one(path: Path, code_id: str) -> tuple[OperatorCode | None, list[str]]:
    """Revoke the code ``code_id``; when there is none, the record of a login revoked before (None, [its id])."""
    try:
        code = revoke_code(path, code_id)
    except UsageError:
        prefix = code_id.strip().lower()
        found = [
            r.id for r in list_records(path) if r.ended and len(prefix) >= MIN_ID_CHARS and r.id.startswith(prefix)
        ]
        if len(found) != 1:
            raise
        return None, found
    return code, [code.id]


def _readable(path: Path, ids: set[str]) -> list[ChangeRecord]:
    """The records of ``ids``, opened: on an encrypted node this unlocks it when they are sealed and a passphrase
    can be had (the revocation is done already); else they stay sealed and are counted only."""
    records = [r for r in list_records(path) if r.id in ids]
    if any(r.changes is None for r in records):
        typer.echo("The revoked login changed the admins of your channels: the node's passphrase opens the record.",
                   err=True)  # fmt: skip
        with contextlib.suppress(UsageError):  # no passphrase here, or a wrong one: say how many, and how to see
            operator_codes.use(path, node_keys(path))
            records = [r for r in list_records(path) if r.id in ids]
    return records


def _record_dict(record: ChangeRecord, since: int | None, keep: frozenset[str]) -> dict[str, Any]:
    changes = None
    if record.changes is not None:
        changes = [{"channel": c.channel, "key": c.key, "npub": nip19.npub_encode(c.key), "before": list(c.before),
                    "after": list(c.after), "at": c.at, "changes": c.count, "text": describe(c),
                    "undo": undo_step(c).command(), "grants": grants(c),
                    "chosen": chosen_to_stay(c, since, keep)} for c in record.changes]  # fmt: skip
    return {"id": record.id, "count": record.count, "changes": changes}


async def _undo(ctx: Context, ids: set[str], since: int | None, keep: frozenset[str]) -> dict[str, Any]:
    """Put back, in the node's channels, what the logins ``ids`` changed in their admins, through the service
    ``samizdat channel admins`` uses, each key only where the channel still shows what the login left, and not
    what the owner chose to leave (``--since``, ``--keep``: operator_changes.chosen_to_stay)."""
    undone, left, seen = [], [], set()
    for record in [r for r in list_records(ctx.home) if r.id in ids]:
        done: set[tuple[str, str]] = set()
        for change in record.changes or ():
            step, text = undo_step(change), describe(change)
            seen.add(change.key)
            if why := chosen_to_stay(change, since, keep):
                left.append({"text": f"{when(change.at)}  {text}", "why": why, "undo": step.command()})
                continue
            try:
                channel = await channels.resolve(ctx, change.channel)
                state = undo_state(change, (channel.admins.get(change.key), channel.revoked.get(change.key)))
                if state == "undo" and grants(change):  # never given back unasked (red team, round 13)
                    state = "grant"
                if state == "undo":
                    await posts.change_admins(
                        ctx, change.channel, add=[change.key] if step.add else [], role=step.add or "admin",
                        remove=[] if step.add else [change.key], since=step.since,
                    )  # fmt: skip
            except UsageError as exc:
                left.append({"text": text, "why": str(exc), "undo": step.command()})
                continue
            if state == "changed":
                left.append({"text": text, "why": "changed since, by you or another login: left as it is",
                             "undo": step.command()})  # fmt: skip
                continue
            if state == "grant":
                left.append({"text": text, "why": GRANTS, "undo": step.command()})
                continue
            done.add((change.channel, change.key))
            undone.append({"text": text, "already": state == "done"})
        if record.changes is None:
            left.append({"text": f"login {record.id}: {plural(record.count, 'change')}", "why": "sealed under "
                         "another key: cannot be read here", "undo": ""})  # fmt: skip
        if done:
            await asyncio.to_thread(forget_admin_changes, ctx.home, record.id, done)
    unknown = [nip19.npub_encode(key) for key in sorted(keep - seen)]
    return {"undone": undone, "left": left, **({"keep_unknown": unknown} if unknown else {})}


def _changes_text(d: dict[str, Any]) -> list[str]:
    lines = []
    for record in d.get("admin_changes", []):
        if record["changes"] is None:
            lines.append(f"Login {record['id']} changed the admins of your channels "
                         f"{plural(record['count'], 'time')}; they are sealed: `samizdat web logout {record['id']} "
                         "--undo` unlocks the node, puts them back and says what they were.")  # fmt: skip
            continue
        if record["changes"]:
            lines.append(f"Login {record['id']} changed the admins of your channels (undo each, or all with "
                         f"`samizdat web logout {record['id']} --undo`):")  # fmt: skip
        for change in record["changes"]:
            by_hand = " (by hand only: --undo leaves it)" if change["grants"] else ""
            if change["chosen"] and not by_hand:
                by_hand = f" (--undo with these choices leaves it: {change['chosen']})"
            lines += [f"  {when(change['at'])}  {neutralize(change['text'])}", f"    undo{by_hand}: {change['undo']}"]
    for item in d.get("undone", []):
        lines.append(("Already as before: " if item["already"] else "Put back: ") + neutralize(item["text"]))
    for item in d.get("left", []):
        lines.append(f"NOT put back ({item['why']}): {neutralize(item['text'])}")
        if item["undo"]:
            lines.append(f"    by hand: {item['undo']}")
    for npub in d.get("keep_unknown", []):
        lines.append(f"--keep {npub}: the login changed nothing of this key (nothing to keep)")
    return lines


def appointed_by(home: Path, channel: Channel) -> dict[str, str]:
    """For ``samizdat channel admins``: which operator login made each of ``channel``'s admins what it is (key ->
    a sentence), when the node's records say so (web/operator_changes.py)."""
    said = {}
    for record in list_records(home):
        for change in record.changes or ():
            role = channel.admins.get(change.key)
            if change.channel == channel.address and role is not None and change.after[0] == role:
                gone = " (revoked since)" if record.ended else ""
                said[change.key] = f"appointed {when(change.at)} by operator login {record.id}{gone}"
    return said


def appointed_text(d: dict[str, Any]) -> str:
    """The lines :func:`appointed_by` adds to ``samizdat channel admins`` (with a newline first), or ""."""
    lines = [f"{nip19.npub_encode(key)}: {text}" for key, text in d.get("appointed_by", {}).items()]
    return "".join(f"\n{line}" for line in lines)

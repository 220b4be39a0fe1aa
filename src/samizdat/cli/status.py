"""``samizdat status`` as text: a summary a person reads first (per relay: delivered, waiting, failed with the
reason, lost; a relay that loses what it acknowledges said so, and one that withholds a channel's newest
definition or a retraction, with what it withheld), each waiting, failed or lost post only with
``--verbose``."""

from __future__ import annotations

import time
from typing import Any

from samizdat.cli.render import SHORT_ID, ago, plural, when
from samizdat.core.display import field, url
from samizdat.services import withholding


def _reason(text: str | None) -> str:
    """A relay's or the outbox's last message as a clause: without its ``error:`` prefix and final full stop."""
    text = (text or "").strip().removeprefix("error:").strip()
    return text[:-1] if text.endswith(".") else text or "-"


def _relay_line(r: dict[str, Any], now: float) -> str:
    parts = [f"{r['delivered']} delivered"]
    if r["pending"]:
        parts.append(f"{r['pending']} waiting")
    if r["failed"]:
        parts.append(f"{r['failed']} failed")
    if r.get("lost"):
        parts.append(f"{r['lost']} lost")
    state = {True: "answers", False: "does not answer", None: "not tried yet"}[r["reachable"]]
    line = f"  {url(str(r['url']))}: {', '.join(parts)}; {state}"
    if r["last_success"]:
        line += f", last synced {ago(r['last_success'], now)}"
    if r.get("losing_since"):
        line += (
            f"\n      ! loses what it accepts: {plural(r['lost_events'], 'event')} it acknowledged were missing at a "
            f"later sync (since {ago(r['losing_since'], now)}); posts go to other relays, syncs send it little"
        )
    for found in r.get("impersonated") or ():
        line += (
            f"\n      ! something else answers in its name on this network through {found['route']} (found by "
            f"{found['by']}): that route is avoided until {when(found['until'])}"
        )
    for row in r.get("withheld") or ():
        name = f"«{field(row['name'])}»" if row.get("name") else "a channel"
        line += f"\n      ! withholds: it {withholding.line(row, name, when)}"
    if any(not row.get("readers") for row in r.get("withheld") or ()):
        line += "\n      (it was sent these and does not serve them; other mirrors go first for those channels)"
    elif r.get("withheld"):  # only what it showed this node and hid from another route: it was sent nothing
        line += "\n      (it hides these from readers; other mirrors go first for those channels)"
    if r["last_error"] and (r["pending"] or r["failed"] or r["reachable"] is False):
        line += f"\n      last error: {_reason(r['last_error'])}"
    return line


def _reading_lines(reading: dict[str, Any] | None) -> list[str]:
    """Private reading: which areas are fetched whole, which were too large, what relays learn by channel."""
    if not reading:
        return []
    if not reading["private"]:
        return ["Private reading: off ([sync] private = false): relays learn every channel you follow"]
    cells = ", ".join(a["cell"] for a in reading["areas"]) or "none yet"
    lines = [f"Private reading: areas fetched whole: {cells}"]
    lines += [f"  ! {line}" for line in reading["over_budget"]]
    lines += [f"  - {line}" for line in reading["by_channel"]]
    return lines


def _safety_lines(safety: dict[str, Any] | None) -> list[str]:
    """The kill cord and lock after sleep (services/killcord.py): armed or not, and why not."""
    if not safety:
        return []
    cord, action = safety["kill_cord"], safety["kill_cord_action"]
    if cord is None and safety.get("kill_cord_given"):
        line = f"Kill cord: armed by `samizdat serve --kill-cord`; when it goes, the serving node {action}s itself"
    elif cord is None:
        line = "Kill cord: off ([safety] kill_cord)"
    elif safety["kill_cord_present"]:
        line = f"Kill cord: armed: {cord} is there; when it goes, a serving node {action}s itself"
    else:
        line = f"Kill cord: ! {cord} is NOT there: `samizdat serve` refuses to start until it is plugged in"
    sleep = "on: a serving node locks when the machine wakes" if safety["lock_after_sleep"] else "off"
    if not safety["lock_after_sleep"] and safety.get("lock_after_sleep_set"):
        sleep = "off: a node without a passphrase has no keys to lock"
    return [line, f"Lock after sleep: {sleep}"]


def status_text(d: dict[str, Any], *, verbose: bool = False, now: float | None = None) -> str:
    now = time.time() if now is None else now
    outbox = d["outbox"]
    lines = [
        f"Identity: {d['npub']}",
        f"Data: {d['home']}",
        f"Posts and other events stored: {d['store'].get('events', 0)}",
        f"Serving: {d['serving'] or 'no (start with `samizdat serve`)'}",
        f"Following {plural(d['follows'], 'channel')}",
    ]
    photos = d.get("photos") or {}
    if photos.get("stored") or photos.get("missing"):
        line = f"Photos: {photos['stored']} stored ({photos['bytes']:,} bytes, encrypted)"
        lines.append(line + (f", {photos['missing']} still to fetch" if photos["missing"] else ""))
    peers = d["peers"]
    if peers:
        lines.append("Peers: " + ", ".join(f"{p['url']} ({p['state']})" for p in peers))
    else:
        lines.append("Peers: none (see `samizdat peers`)")
    waiting, failed, lost = len(outbox["pending"]), len(outbox["failed"]), len(outbox.get("lost", ()))
    summary = f"Delivery: {outbox['accepted']} delivered, {waiting} waiting, {failed} failed"
    if lost:
        summary += f", {lost} lost (accepted by a relay that then did not have them)"
    if outbox["superseded"]:
        summary += f" ({outbox['superseded']} no longer needed: replaced, retracted or expired)"
    lines.append(summary)
    for relay in d["relays"]:
        lines.append(_relay_line(relay, now))
    lines += _reading_lines(d.get("reading"))
    lines += _safety_lines(d.get("safety"))
    if verbose:
        for source in d.get("channel_sources") or ():
            name = str(source["channel"]).split(":", 2)[-1]
            lines.append(f"  channel {name} came from {', '.join(url(str(r)) for r in source['relays'])}")
        for row in outbox["pending"]:
            lines.append(
                f"  waiting {row['event'][:SHORT_ID]} -> {row['relay']} "
                f"({plural(row['attempts'], 'try', 'tries')}, next {when(row['next_attempt'])}: {_reason(row['last'])})"
            )
        for row in outbox["failed"]:
            lines.append(f"  failed  {row['event'][:SHORT_ID]} -> {row['relay']} ({_reason(row['last'])})")
        for row in outbox.get("lost", ()):
            lines.append(f"  lost    {row['event'][:SHORT_ID]} -> {row['relay']} ({_reason(row['last'])})")
    elif waiting or failed or lost:
        lines.append("(`samizdat status --verbose` lists each waiting, failed or lost post)")
    return "\n".join(lines)

"""The cases of "who may amend whose post" (Channel.may_amend, web/src/rules.js mayAmend) that Python and the web app
must judge alike, played by an admin whose key the police hold: what a reader sees of the owner's, another admin's,
an editor's and a former admin's posts when that admin retracts or rewrites them, before and after the owner
removes the admin. ``tests/core/test_turned_admin.py`` checks them against Python and runs them in node;
``web/test/amend-vectors.json`` is made from them (``python tests/core/turned_admin_cases.py``)."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from samizdat.core.channel import build_channel_event
from samizdat.core.event import Event, sign_event
from samizdat.core.keys import SecretKey

T = 1_700_000_000
REMOVED = T + 5000  #: the ``since`` of the turned admin's removal
NOW = T + 9000
OWNER, TURNED, ADMIN, EDITOR, FORMER = (SecretKey(bytes([60 + i]) * 32) for i in range(5))
FORMER_SINCE = T + 100
VECTORS = Path(__file__).parents[2] / "web" / "test" / "amend-vectors.json"


def definition(*, removed: bool) -> Event:
    """The channel before (``removed=False``) and after the owner removed the turned admin."""
    admins = {ADMIN.public_key_hex: "admin", EDITOR.public_key_hex: "editor"}
    revoked = {FORMER.public_key_hex: FORMER_SINCE}
    if removed:
        revoked[TURNED.public_key_hex] = REMOVED
    else:
        admins[TURNED.public_key_hex] = "admin"
    return build_channel_event(
        OWNER, "yard", "Block 7 yard", created_at=T + (6000 if removed else 0), admins=admins, revoked=revoked,
        mirrors=["wss://m.example"],
    )  # fmt: skip


BEFORE, AFTER = definition(removed=False), definition(removed=True)
ADDRESS = f"30333:{OWNER.public_key_hex}:yard"


def raw(key: SecretKey, kind_type: str, text: str, at: int, *tags: list[str]) -> Event:
    """Signed without the builders' checks, as a turned admin's own client would."""
    return sign_event(key, 2333, text, [["a", ADDRESS, ""], ["type", kind_type], *tags], created_at=at)


def safe_place(key: SecretKey, at: int) -> Event:
    return raw(key, "safe-place", "Tea and a charger", at, ["location", "Flat 3, Lenina 5"])


def retraction(key: SecretKey, original: Event, at: int) -> Event:
    return raw(key, "retraction", "Not confirmed", at, ["e", original.id, "", "retraction", original.pubkey])


def correction(key: SecretKey, original: Event, at: int) -> Event:
    """Moves the safe place to where the police wait."""
    e_tag = ["e", original.id, "", "correction", original.pubkey]
    return raw(key, "correction", "Moved: come to the yard of Lenina 40", at, e_tag, ["location", "Lenina 40"])


def _case(name: str, definition: Event, original: Event, related: list[Event], **expect: Any) -> dict[str, Any]:
    want = {"status": "valid", "retracted": False, "location": "Flat 3, Lenina 5", **expect}
    return {"name": name, "definition": definition, "now": NOW, "original": original, "related": related,
            "expect": want}  # fmt: skip


def cases() -> list[dict[str, Any]]:
    by_owner, by_admin = safe_place(OWNER, T + 1000), safe_place(ADMIN, T + 1001)
    by_editor, by_turned = safe_place(EDITOR, T + 1002), safe_place(TURNED, T + 1003)
    by_former = safe_place(FORMER, T + 50)  # dated before its removal: valid, "by a former admin"
    at = T + 2000
    moved = {"location": "Lenina 40"}
    return [
        _case("a turned admin cannot retract the owner's post", BEFORE, by_owner, [retraction(TURNED, by_owner, at)]),
        _case("nor move the owner's safe place", BEFORE, by_owner, [correction(TURNED, by_owner, at)]),
        _case("nor retract another admin's post", BEFORE, by_admin, [retraction(TURNED, by_admin, at)]),
        _case("nor move another admin's safe place", BEFORE, by_admin, [correction(TURNED, by_admin, at)]),
        _case(
            "an admin still corrects an editor's post", BEFORE, by_editor, [correction(TURNED, by_editor, at)], **moved
        ),  # fmt: skip
        _case(
            "and retracts an editor's post", BEFORE, by_editor, [retraction(TURNED, by_editor, at)], retracted=True
        ),  # fmt: skip
        _case("and a former admin's post", BEFORE, by_former, [retraction(ADMIN, by_former, at)], retracted=True),
        _case("and their own", BEFORE, by_turned, [retraction(TURNED, by_turned, at)], retracted=True),
        _case(
            "the owner retracts an admin's post", BEFORE, by_turned, [retraction(OWNER, by_turned, at)], retracted=True
        ),  # fmt: skip
        _case("the owner moves an admin's safe place", BEFORE, by_admin, [correction(OWNER, by_admin, at)], **moved),
        _case(
            "once removed, their rewrite of an editor's post no longer counts",
            AFTER,
            by_editor,
            [correction(TURNED, by_editor, at)],
        ),  # fmt: skip
        _case(
            "once removed, their own earlier post stays, as a former admin's", AFTER, by_turned, [], role="former"
        ),  # fmt: skip
        _case(
            "and the other admins can now retract it",
            AFTER,
            by_turned,
            [retraction(ADMIN, by_turned, T + 7000)],
            role="former",
            retracted=True,
        ),  # fmt: skip
        _case(
            "a post dated at the removal instant is revoked",
            AFTER,
            safe_place(TURNED, REMOVED),
            [],
            status="revoked",
            location="",
        ),  # fmt: skip
        _case(
            "a post dated one second before it counts, as a former admin's",
            AFTER,
            safe_place(TURNED, REMOVED - 1),
            [],
            role="former",
        ),  # fmt: skip
        _case("a post dated an hour ahead waits", BEFORE, safe_place(TURNED, NOW + 3600), [], status="future"),
        # Red team round 8: a removed key dates a correction of its own trusted safe place to before its removal
        # (nobody can tell it from a genuine one) and moves it to where the police wait. Its corrections no longer
        # count; its retractions do (NIP-09 lets it delete its own posts anyway).
        _case(
            "once removed, their correction backdated before the removal no longer moves their own safe place",
            AFTER,
            by_turned,
            [correction(TURNED, by_turned, REMOVED - 1)],
            role="former",
        ),  # fmt: skip
        _case(
            "nor any removed key's, dated before its removal", AFTER, by_former, [correction(FORMER, by_former, T + 99)]
        ),  # fmt: skip
        _case(
            "while listed, the admin still moves their own safe place",
            BEFORE,
            by_turned,
            [correction(TURNED, by_turned, at)],
            **moved,
        ),  # fmt: skip
        _case(
            "once removed, they still retract their own post",
            AFTER,
            by_turned,
            [retraction(TURNED, by_turned, REMOVED - 1)],
            role="former",
            retracted=True,
        ),  # fmt: skip
        _case(
            "the remaining admins still move a former admin's safe place",
            AFTER,
            by_turned,
            [correction(ADMIN, by_turned, T + 7000)],
            role="former",
            **moved,
        ),  # fmt: skip
    ]


def to_json(all_cases: list[dict[str, Any]]) -> str:
    def plain(value: Any) -> Any:
        if isinstance(value, Event):
            return json.loads(value.to_json())
        if isinstance(value, list):
            return [plain(v) for v in value]
        if isinstance(value, dict):
            return {k: plain(v) for k, v in value.items()}
        return value

    return json.dumps([plain(c) for c in all_cases], ensure_ascii=False, indent=1) + "\n"


if __name__ == "__main__":
    VECTORS.write_text(to_json(cases()), encoding="utf-8")
    sys.stdout.write(f"wrote {VECTORS}\n")

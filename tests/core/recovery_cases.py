"""The cases of the seizure rule (core/recovery.py) that Python and the web app must judge alike: each is the
events a reader has, the recovery key its node remembers, and what it must conclude. ``tests/core/test_recovery.py``
checks them against Python; ``web/test/recovery-vectors.json`` is made from them (``python
tests/core/recovery_cases.py``) and run by both (``tests/web/test_recovery_parity.py``)."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from samizdat.core.channel import build_channel_event, parse_channel
from samizdat.core.event import Event, sign_event
from samizdat.core.keys import SecretKey
from samizdat.core.posts import build_post, build_vouch, build_vouch_withdrawal
from samizdat.core.recovery import build_claim

T = 1_700_000_000
OWNER, RECOVERY, POLICE_RECOVERY, NEW_OWNER, ADMIN, STRANGER = (SecretKey(bytes([40 + i]) * 32) for i in range(6))
VERIFIER, OTHER_VERIFIER = SecretKey(bytes([50]) * 32), SecretKey(bytes([51]) * 32)
VECTORS = Path(__file__).parents[2] / "web" / "test" / "recovery-vectors.json"


def definition(created_at: int, recovery: SecretKey | None, name: str = "Block 7 yard", **extra: Any) -> Event:
    return build_channel_event(
        OWNER, "yard", name, created_at=created_at, geohash="u9edp2", mirrors=["wss://m.example"],
        admins={ADMIN.public_key_hex: "admin"}, recovery=recovery.public_key_hex if recovery else "", **extra,
    )  # fmt: skip


ADDRESS = parse_channel(definition(T, RECOVERY)).address
SUCCESSOR = parse_channel(build_channel_event(NEW_OWNER, "yard", "Block 7 yard", created_at=T + 5000)).address
POLICE_CHANNEL = parse_channel(build_channel_event(STRANGER, "yard", "Block 7 yard", created_at=T + 5000)).address


def claim(key: SecretKey, proof: Event, *, since: int, created_at: int, successor: str = SUCCESSOR) -> Event:
    return build_claim(key, proof, successor, since=since, created_at=created_at, message="Our phone was taken.")


def _post(key: SecretKey, proof: Event, created_at: int, text: str) -> Event:
    return build_post(key, parse_channel(proof), "news", text, created_at=created_at)


def vouch(verifier: SecretKey, seen: Event, created_at: int, recovery: str | None = None) -> Event:
    """A verifier's vouch for the channel, naming the recovery key of the definition it saw (or ``recovery``)."""
    return build_vouch(verifier, parse_channel(seen), "We met the admins", created_at=created_at, recovery=recovery)


def cases() -> list[dict[str, Any]]:
    """Each case: definitions and claims the reader has, the key remembered, the vouches it has and the verifiers
    it trusts, posts to judge, and the answer: ``readable``, ``seized_since``, ``successor``, ``remember``, and
    for each post whether it counts and its role."""
    first = definition(T, RECOVERY)
    real = claim(RECOVERY, first, since=T + 3000, created_at=T + 4000)
    dropped = definition(T + 3500, None, name="Block 7 yard (new admins)")  # the police drop the recovery key
    police_named = definition(T + 3600, POLICE_RECOVERY)  # ...or name their own
    police_claim = claim(POLICE_RECOVERY, police_named, since=T + 10, created_at=T + 3700, successor=POLICE_CHANNEL)
    backdated = definition(T - 100, POLICE_RECOVERY)  # named before the real one, by date
    backdated_claim = claim(POLICE_RECOVERY, backdated, since=T + 10, created_at=T + 3700, successor=POLICE_CHANNEL)
    later = claim(RECOVERY, first, since=T + 100, created_at=T + 9000, successor=POLICE_CHANNEL)
    before = _post(OWNER, first, T + 2000, "The water is back on")
    fake = _post(OWNER, first, T + 3200, "Everyone to the square at 18:00")
    admin_post = _post(ADMIN, first, T + 3300, "Lawyer on duty: +375 29 111 22 33")
    posts = [before, fake, admin_post]
    # Vouches: the verifier's word, dated by the verifier; the police hold no verifier's key.
    vouched = vouch(VERIFIER, first, T + 1000)  # before the seizure, naming the real recovery key
    vouched_late = vouch(VERIFIER, first, T + 3500)  # after the real claim's since: proves nothing
    untrusted = vouch(STRANGER, first, T + 1000)
    withdrawn = build_vouch_withdrawal(VERIFIER, [vouched], created_at=T + 1500)
    unnamed = vouch(VERIFIER, first, T + 1000, recovery="")  # an old vouch, without the recovery tag
    police_vouch = vouch(OTHER_VERIFIER, police_named, T + 2000)  # a verifier who saw the police's definition
    late_police_claim = claim(POLICE_RECOVERY, backdated, since=T + 2900, created_at=T + 3700, successor=POLICE_CHANNEL)
    fooled = vouch(OTHER_VERIFIER, police_named, T + 500)  # a vouch naming the police's key, before its since
    # The owner, unsure when the key was taken, gives an early --since: before the verifier's vouch.
    early = claim(RECOVERY, first, since=T + 500, created_at=T + 4000)
    real_after = {
        "readable": True,
        "seized_since": T + 3000,
        "successor": SUCCESSOR,
        "remember": RECOVERY.public_key_hex,
        "posts": [[True, "former"], [False, None], [True, "admin"]],
    }
    police_after = {"readable": True, "seized_since": T + 10, "successor": POLICE_CHANNEL,
                    "remember": POLICE_RECOVERY.public_key_hex,
                    "posts": [[False, None], [False, None], [True, "admin"]]}  # fmt: skip
    trusting = [VERIFIER.public_key_hex, OTHER_VERIFIER.public_key_hex]
    # [other key, its verifiers, where its earliest claim points]: core/recovery.py rule 4
    real_dispute = [RECOVERY.public_key_hex, [VERIFIER.public_key_hex], SUCCESSOR]
    police_dispute = [POLICE_RECOVERY.public_key_hex, [OTHER_VERIFIER.public_key_hex], POLICE_CHANNEL]
    out = [
        {"name": "no claim: the owner key counts", "definitions": [first], "claims": [], "remembered": "",
         "expect": {"readable": True, "seized_since": None, "successor": "", "remember": RECOVERY.public_key_hex,
                    "posts": [[True, "owner"], [True, "owner"], [True, "admin"]]}},
        {"name": "a claim: the owner's posts from since on do not count", "definitions": [first], "claims": [real],
         "remembered": RECOVERY.public_key_hex,
         "expect": {"readable": True, "seized_since": T + 3000, "successor": SUCCESSOR,
                    "remember": RECOVERY.public_key_hex,
                    "posts": [[True, "former"], [False, None], [True, "admin"]]}},
        {"name": "a newer definition dropping the recovery key does not stop a remembered key",
         "definitions": [first, dropped], "claims": [real], "remembered": RECOVERY.public_key_hex,
         "expect": {"readable": True, "seized_since": T + 3000, "successor": SUCCESSOR,
                    "remember": RECOVERY.public_key_hex,
                    "posts": [[True, "former"], [False, None], [True, "admin"]], "name": "Block 7 yard"}},
        {"name": "the police's own recovery key is not honoured where the real one is remembered",
         "definitions": [police_named], "claims": [police_claim, real], "remembered": RECOVERY.public_key_hex,
         "expect": {"readable": True, "seized_since": T + 3000, "successor": SUCCESSOR,
                    "remember": RECOVERY.public_key_hex,
                    "posts": [[True, "former"], [False, None], [True, "admin"]]}},
        {"name": "a new reader honours the oldest definition naming a recovery key",
         "definitions": [police_named], "claims": [police_claim, real], "remembered": "",
         "expect": {"readable": True, "seized_since": T + 3000, "successor": SUCCESSOR,
                    "remember": RECOVERY.public_key_hex,
                    "posts": [[True, "former"], [False, None], [True, "admin"]]}},
        {"name": "not handled: a new reader without a vouch is misled by a definition backdated further",
         "definitions": [police_named], "claims": [backdated_claim, real], "remembered": "",
         "expect": {"readable": True, "seized_since": T + 10, "successor": POLICE_CHANNEL,
                    "remember": POLICE_RECOVERY.public_key_hex,
                    "posts": [[False, None], [False, None], [True, "admin"]]}},
        {"name": "two claims of the recovery key: the earliest wins", "definitions": [first],
         "claims": [later, real], "remembered": RECOVERY.public_key_hex,
         "expect": {"readable": True, "seized_since": T + 3000, "successor": SUCCESSOR,
                    "remember": RECOVERY.public_key_hex,
                    "posts": [[True, "former"], [False, None], [True, "admin"]]}},
        {"name": "a claim by another recovery key than the remembered one does nothing", "definitions": [first],
         "claims": [police_claim],
         "remembered": RECOVERY.public_key_hex,
         "expect": {"readable": True, "seized_since": None, "successor": "", "remember": RECOVERY.public_key_hex,
                    "posts": [[True, "owner"], [True, "owner"], [True, "admin"]]}},
        {"name": "a claim whose proof was tampered with does nothing", "definitions": [first],
         "claims": [_tampered(real)], "remembered": RECOVERY.public_key_hex,
         "expect": {"readable": True, "seized_since": None, "successor": "", "remember": RECOVERY.public_key_hex,
                    "posts": [[True, "owner"], [True, "owner"], [True, "admin"]]}},
        {"name": "only a newer malformed definition: the claim's proof is read",
         "definitions": [_malformed(T + 3800)], "claims": [real], "remembered": RECOVERY.public_key_hex,
         "expect": {"readable": True, "seized_since": T + 3000, "successor": SUCCESSOR,
                    "remember": RECOVERY.public_key_hex,
                    "posts": [[True, "former"], [False, None], [True, "admin"]]}},
        {"name": "a trusted verifier's vouch before the seizure names the real key: a new reader honours its claim",
         "definitions": [police_named], "claims": [backdated_claim, real], "remembered": "",
         "vouches": [vouched], "verifiers": trusting, "expect": real_after},
        {"name": "a vouch by a verifier the reader does not trust names nothing",
         "definitions": [police_named], "claims": [backdated_claim, real], "remembered": "",
         "vouches": [untrusted], "verifiers": trusting, "expect": police_after},
        {"name": "a withdrawn vouch names nothing",
         "definitions": [police_named], "claims": [backdated_claim, real], "remembered": "",
         "vouches": [vouched, withdrawn], "verifiers": trusting, "expect": police_after},
        {"name": "an old vouch without a recovery tag is a vouch that names no key",
         "definitions": [police_named], "claims": [backdated_claim, real], "remembered": "",
         "vouches": [unnamed], "verifiers": trusting, "expect": police_after},
        {"name": "the earliest vouch wins, whatever the claims' since; the later one disputes",
         "definitions": [police_named], "claims": [backdated_claim, real], "remembered": "",
         "vouches": [vouched_late, police_vouch], "verifiers": trusting,
         "expect": {**police_after, "remember": "", "disputes": [real_dispute]}},
        {"name": "trusted verifiers naming different keys: the earliest vouch wins, disputed, not remembered",
         "definitions": [police_named], "claims": [late_police_claim, real], "remembered": "",
         "vouches": [police_vouch, vouched], "verifiers": trusting,
         "expect": {**real_after, "remember": "", "disputes": [police_dispute]}},
        {"name": "not handled: a trusted verifier's earlier vouch for the police's key misleads, disputed",
         "definitions": [police_named], "claims": [late_police_claim, real], "remembered": "",
         "vouches": [vouched, fooled], "verifiers": trusting,
         "expect": {**police_after, "seized_since": T + 2900, "remember": "", "disputes": [real_dispute],
                    "posts": [[True, "former"], [False, None], [True, "admin"]]}},
        {"name": "a remembered key beats any vouch, which disputes it", "definitions": [police_named],
         "claims": [late_police_claim, real], "remembered": RECOVERY.public_key_hex,
         "vouches": [fooled], "verifiers": trusting, "expect": {**real_after, "disputes": [police_dispute]}},
        {"name": "a remembered backdated key is disputed by a vouch naming the real one, not switched",
         "definitions": [police_named], "claims": [backdated_claim, real], "remembered": POLICE_RECOVERY.public_key_hex,
         "vouches": [vouched], "verifiers": trusting, "expect": {**police_after, "disputes": [real_dispute]}},
        {"name": "a vouch naming the remembered key disputes nothing", "definitions": [first], "claims": [real],
         "remembered": RECOVERY.public_key_hex, "vouches": [vouched], "verifiers": trusting, "expect": real_after},
        {"name": "a disputed key without a claim: the dispute says where nothing points", "definitions": [first],
         "claims": [], "remembered": RECOVERY.public_key_hex, "vouches": [fooled], "verifiers": trusting,
         "expect": {"readable": True, "seized_since": None, "successor": "", "remember": RECOVERY.public_key_hex,
                    "posts": [[True, "owner"], [True, "owner"], [True, "admin"]],
                    "disputes": [[POLICE_RECOVERY.public_key_hex, [OTHER_VERIFIER.public_key_hex], ""]]}},
        {"name": "the owner's early --since (earlier is safer) does not undo a vouch given before it",
         "definitions": [police_named], "claims": [late_police_claim, early], "remembered": "",
         "vouches": [vouched, police_vouch], "verifiers": trusting,
         "expect": {"readable": True, "seized_since": T + 500, "successor": SUCCESSOR, "remember": "",
                    "posts": [[False, None], [False, None], [True, "admin"]], "disputes": [police_dispute]}},
    ]  # fmt: skip
    for case in out:
        case["expect"].setdefault("disputes", [])
        case.setdefault("vouches", [])
        case.setdefault("verifiers", [])
        case["address"] = ADDRESS
        case["posts"] = posts
        case["now"] = T + 10_000
    return out


def _tampered(event: Event) -> Event:
    """The claim re-signed by its key with a proof whose recovery tag was edited (its signature breaks)."""
    tags = [list(t) for t in event.tags]
    for tag in tags:
        if tag[0] == "proof":
            proof = json.loads(tag[1])
            proof["tags"] = [t for t in proof["tags"] if t[0] != "recovery"] + [["recovery", STRANGER.public_key_hex]]
            tag[1] = json.dumps(proof)
    return sign_event(STRANGER, event.kind, event.content, tags, created_at=event.created_at)


def _malformed(created_at: int) -> Event:
    return sign_event(OWNER, 30333, "", [["d", "yard"]], created_at=created_at)  # no name


def to_json(cases: list[dict[str, Any]]) -> str:
    def plain(value: Any) -> Any:
        if isinstance(value, Event):
            return value.to_dict()
        if isinstance(value, list):
            return [plain(v) for v in value]
        if isinstance(value, dict):
            return {k: plain(v) for k, v in value.items()}
        return value

    return json.dumps(plain(cases), ensure_ascii=False, indent=1) + "\n"


if __name__ == "__main__":
    VECTORS.write_text(to_json(cases()), encoding="utf-8")
    sys.stdout.write(f"wrote {VECTORS}\n")

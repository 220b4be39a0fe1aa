"""A channel whose owner key was seized: the recovery key's claim, and what a reader makes of it.

Theory of operation. The owner names a *recovery key* in the channel's definition (``["recovery", <pubkey>]``) and
keeps its secret off the device. If the owner key is seized, whoever holds the recovery key publishes a *seizure
claim*: a post (kind 2333, so it travels every path posts travel) of type ``seized``, signed by the recovery key,
naming the channel (``a``), the time from which the owner key is not trusted (``since``), the channel it goes on at
(``successor``, another owner key), and carrying a definition signed by the old owner key that names this recovery
key (``proof``): the claim proves itself, and its proof is also the definition readers fall back on when every
version they find is dated after ``since`` (a store keeps only the newest version).

Whoever holds the seized key can publish a newer definition that drops the recovery key or names their own, and
date it as they like. So which recovery key a reader honours is not taken from the newest definition:

1. a key the reader's node remembers for the channel (the first it saw there: its own observation, not a date a
   signer chose) is the only one honoured;
2. a reader who remembers none honours the key named by the *earliest vouch* of a verifier it trusts (kind 1985,
   :func:`~samizdat.core.trust.witnesses`) that names one (``["recovery", <pubkey>]``: the key the verifier saw
   the channel name when it vouched), whatever its date against the claims' ``since``: a vouch given after the
   seizure by a verifier the police fooled is later than one given before it, and a vouch naming the real key
   after the owner's ``since`` (which the owner, unsure, sets early: earlier is safer) is no less the verifier's
   word (skipping those let the police's key win: they choose their own claim's ``since``). Trusted verifiers
   naming different keys: the earliest vouch wins, as the first key seen wins for a node;
3. a reader with no such vouch honours the key named by the *oldest* owner-signed definition it can see naming
   one (a claim's proof or the current definition). Backdating beats this: a reader who never saw the channel
   before the seizure and trusts no verifier who vouched before it can be misled by a definition backdated
   further than the real one;
4. whatever the rule that chose it, a key is *disputed* when a vouch of a verifier the reader trusts names
   another (:func:`_disputes`, any date: a trusted verifier's word that the reader must see). A dispute never
   switches the key honoured: the reader is told, before anything else, both keys' fingerprints, who vouched
   for the other and where the other key's claim says the channel goes on (a verifier seized or fooled cannot
   redirect readers with one vouch, nor can it go unseen); and a node that remembers no key yet remembers none
   while its key is disputed (``Judgement.remember`` is ""), so that the first key it saw is not one a
   verifier it trusts contests, and the verifiers withdrawing or correcting their vouches settles it.

Among claims by the honoured key, the earliest (``created_at``, then lowest id) wins: a recovery key seized
later cannot redirect readers who already saw its first word. Once a claim is in force, the owner key's events
dated at or after ``since`` do not count (its posts before are "by the former owner": an editor, never amending
others), and definitions dated at or after ``since`` are ignored.

Pure: events in, answers out; ``web/src/recovery.js`` is the browser's port (``tests/web/test_recovery_parity.py``
runs both on ``web/test/recovery-vectors.json``).
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass

from samizdat.core import geohash as gh
from samizdat.core import kinds
from samizdat.core.channel import Channel, RecoveryDispute, channel_supersedes, newest_definitions, parse_channel
from samizdat.core.event import Event, parse_event_json, sign_event
from samizdat.core.keys import SecretKey
from samizdat.core.posts import check_text, parse_vouch, split_address
from samizdat.errors import RemoteProtocolError, UsageError

SEIZED = "seized"  #: the post type of a seizure claim
MAX_PROOF = 64 * 1024  #: characters of a claim's proof definition at most
MAX_MESSAGE = 2000  #: characters of a claim's text at most
_DIGITS = re.compile(r"[0-9]{1,12}")
_HEX64 = re.compile(r"[0-9a-f]{64}")


@dataclass(frozen=True, slots=True)
class Claim:
    """A well-formed seizure claim (:func:`parse_claim`)."""

    event: Event
    channel: str  # the seized channel's address
    since: int  # the owner key's events from this time on do not count
    successor: str  # the address the channel goes on at
    proof: Channel  # the owner-signed definition naming the claim's signer as recovery key
    message: str

    @property
    def signer(self) -> str:
        return self.event.pubkey


def _single(event: Event, name: str) -> str:
    found = [t for t in event.tags if t and t[0] == name]
    if len(found) != 1 or len(found[0]) < 2:
        raise RemoteProtocolError(f"a seizure claim has exactly one {name!r} tag with a value")
    return found[0][1]


def parse_claim(event: Event) -> Claim:
    """Check a seizure claim and return it. Raises :class:`RemoteProtocolError` naming the first problem: not a
    kind-2333 post of type ``seized``; not exactly one ``a`` tag naming a channel; ``since`` not digits or after
    the claim's own date; a ``successor`` that is not a channel of another owner key; a ``proof`` that is not a
    validly signed definition of that channel naming the claim's signer as its recovery key; a text too long."""
    if event.kind != kinds.POST or _single(event, "type") != SEIZED:
        raise RemoteProtocolError("not a seizure claim")
    channel = _single(event, "a")
    old = split_address(channel)
    if old is None or old[0] != kinds.CHANNEL:
        raise RemoteProtocolError("a seizure claim must name a channel")
    since = _single(event, "since")
    if not _DIGITS.fullmatch(since) or int(since) > event.created_at:
        raise RemoteProtocolError("a seizure claim's 'since' must be a unix time no later than the claim")
    successor = _single(event, "successor")
    new = split_address(successor)
    if new is None or new[0] != kinds.CHANNEL or new[1] == old[1]:
        raise RemoteProtocolError("a seizure claim's successor must be a channel of another owner key")
    raw = _single(event, "proof")
    if len(raw) > MAX_PROOF:
        raise RemoteProtocolError("a seizure claim's proof is too long")
    proof_event = parse_event_json(raw)
    if proof_event.kind != kinds.CHANNEL or f"{kinds.CHANNEL}:{proof_event.pubkey}:{proof_event.d_tag}" != channel:
        raise RemoteProtocolError("a seizure claim's proof is not a definition of the channel")
    proof = parse_channel(proof_event)
    if proof.recovery != event.pubkey:
        raise RemoteProtocolError("a seizure claim's proof does not name its signer as the recovery key")
    message = check_text(event.content, "a seizure claim's text", max_length=MAX_MESSAGE)
    return Claim(event, channel, int(since), successor, proof, message)


def build_claim(
    key: SecretKey, proof: Event, successor: str, *, since: int, created_at: int, message: str = ""
) -> Event:
    """Sign a seizure claim for the channel ``proof`` defines, with the recovery key ``key``. It carries the
    channel's area tags, so area sync moves it like the channel's posts. Raises :class:`UsageError` when the
    result would not be a valid claim (``proof`` does not name ``key``, ``since`` after ``created_at``, ...)."""
    channel = parse_channel(proof)
    tags = [
        ["a", channel.address],
        ["type", SEIZED],
        ["t", SEIZED],  # what stores index: readers find claims with #a and #t
        ["since", str(since)],
        ["successor", successor],
        ["proof", proof.to_json().decode()],
        *gh.area_tags(channel.geohash),
        ["alt", "Samizdat: this channel's owner key was seized; it goes on at another address"],
    ]
    event = sign_event(key, kinds.POST, message, tags, created_at=created_at)
    try:
        parse_claim(event)
    except RemoteProtocolError as exc:
        raise UsageError(str(exc)[:1].upper() + str(exc)[1:] + ".") from exc
    return event


@dataclass(frozen=True, slots=True)
class Judgement:
    """What a reader makes of a channel: its definition as it counts (``None``: unreadable or unknown), the
    recovery key to remember when the node remembers none yet ("" for none, or while it is disputed), and the
    claim in force. The channel carries the key honoured and its disputes (``recovery_honoured``,
    ``recovery_disputes``)."""

    channel: Channel | None
    remember: str = ""
    claim: Claim | None = None


def _order(event: Event) -> tuple[int, str]:
    return event.created_at, event.id


def vouched_key(vouch: Event, owner: str) -> str:
    """The recovery key a vouch names (its first ``recovery`` tag), or "": none, not 64 lowercase hex
    characters, or the owner's own key. Never fatal: a vouch without it is still a vouch."""
    found = next((t for t in vouch.tags if len(t) >= 2 and t[0] == "recovery"), None)
    if found is None or found[1] == owner or not _HEX64.fullmatch(found[1]):
        return ""
    return found[1]


def _naming(address: str, vouches: Iterable[Event]) -> Iterator[tuple[Event, str]]:
    """Each vouch of ``vouches`` for ``address`` that names a recovery key, with that key."""
    owner = address.split(":", 2)[1]
    for event in vouches:
        try:
            if parse_vouch(event).channel != address:
                continue
        except RemoteProtocolError:
            continue
        key = vouched_key(event, owner)
        if key:
            yield event, key


def _witnessed(address: str, vouches: Iterable[Event]) -> str:
    """The key the earliest vouch for ``address`` that names one names (rule 2 of the module), or ""."""
    best = min(_naming(address, vouches), key=lambda pair: _order(pair[0]), default=None)
    return best[1] if best else ""


def _disputes(address: str, key: str, vouches: Iterable[Event], valid: list[Claim]) -> tuple[RecoveryDispute, ...]:
    """The recovery keys other than ``key`` that ``vouches`` for ``address`` name, each with its verifiers and
    where its earliest claim among ``valid`` says the channel goes on (rule 4 of the module), by key."""
    named: dict[str, set[str]] = {}
    for event, other in _naming(address, vouches):
        if other != key:
            named.setdefault(other, set()).add(event.pubkey)
    goes_on: dict[str, str] = {}
    for claim in sorted(valid, key=lambda c: _order(c.event)):
        goes_on.setdefault(claim.signer, claim.successor)
    return tuple(RecoveryDispute(k, tuple(sorted(v)), goes_on.get(k, "")) for k, v in sorted(named.items()))


def judge(
    address: str, definitions: Iterable[Event], claims: Iterable[Event], remembered: str = "",
    vouches: Iterable[Event] = (),
) -> Judgement:  # fmt: skip
    """The channel at ``address`` as a reader should take it, given the definitions and claims found, the
    recovery key the node ``remembered`` ("" for none) and the vouches that count for the reader
    (:func:`~samizdat.core.trust.witnesses`: its trusted verifiers'). Follows the module's rules; never raises for
    hostile input (claims or vouches that do not check out, or name another channel, are skipped)."""
    newest = newest_definitions(definitions).get(address)
    current: Channel | None = None
    if newest is not None:
        try:
            current = parse_channel(newest)
        except RemoteProtocolError:
            current = None
    valid: list[Claim] = []
    for event in claims:
        try:
            claim = parse_claim(event)
        except RemoteProtocolError:
            continue
        if claim.channel == address:
            valid.append(claim)
    key = remembered or _witnessed(address, vouches)
    if not key:
        named = [(c.proof.event, c.signer) for c in valid]
        if current is not None and current.recovery:
            named.append((current.event, current.recovery))
        key = min(named, key=lambda pair: _order(pair[0]))[1] if named else ""
    disputes = _disputes(address, key, vouches, valid)
    remember = "" if disputes and not remembered else key  # a contested key is not kept for good (rule 4)
    honoured = sorted((c for c in valid if c.signer == key), key=lambda c: _order(c.event))
    if not honoured:
        marked = dataclasses.replace(current, recovery_honoured=key, recovery_disputes=disputes) if current else None
        return Judgement(marked, remember)
    claim = honoured[0]
    base = claim.proof.event
    if newest is not None and newest.created_at < claim.since and channel_supersedes(newest, base):
        base = newest
    try:
        counted = parse_channel(base)
    except RemoteProtocolError:
        counted = claim.proof
    seized = dataclasses.replace(
        counted, seized_since=claim.since, successor=claim.successor, recovery_honoured=key, recovery_disputes=disputes
    )
    return Judgement(seized, remember, claim)


def drop_linked(pairs: Mapping[str, tuple[str, ...]], links: Mapping[str, str]) -> dict[str, tuple[str, ...]]:
    """``pairs`` (address -> addresses it could be taken for, :mod:`samizdat.core.trust`) without the pairs a
    seizure claim in force links (``links``: seized address -> successor): a channel that goes on at a new
    address is expected to look like it, and is not a look-alike of it."""
    linked = {(old, new) for old, new in links.items()} | {(new, old) for old, new in links.items()}
    out = {}
    for address, others in pairs.items():
        kept = tuple(o for o in others if (address, o) not in linked)
        if kept:
            out[address] = kept
    return out

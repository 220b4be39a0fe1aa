"""Post types, their builders and exact tag layouts, corrections, retractions and verifier labels."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import orjson
import pytest

from samizdat.core import channel as ch
from samizdat.core import kinds
from samizdat.core import posts as po
from samizdat.core import thread as th
from samizdat.core.event import Event, parse_event, sign_event
from samizdat.core.keys import SecretKey
from samizdat.core.posts import PostFields
from samizdat.errors import RemoteProtocolError, UsageError

OWNER = SecretKey(bytes([1]) * 32)
ADMIN = SecretKey(bytes([2]) * 32)
EDITOR = SecretKey(bytes([3]) * 32)
STRANGER = SecretKey(bytes([4]) * 32)
FORMER = SecretKey(bytes([5]) * 32)
VERIFIER = SecretKey(bytes([8]) * 32)

T = 1_700_000_000
SINCE = T + 1000

CHANNEL = ch.parse_channel(
    ch.build_channel_event(
        OWNER,
        "minsk-frunzenski",
        "Фрунзенский",
        created_at=T,
        admins={ADMIN.public_key_hex: "admin", EDITOR.public_key_hex: "editor"},
        revoked={FORMER.public_key_hex: SINCE},
        mirrors=["wss://relay.example.org"],
    )
)
OTHER = ch.parse_channel(ch.build_channel_event(ADMIN, "gomel", "Гомель", created_at=T))


def wire(event: Event) -> Event:
    return parse_event(orjson.loads(event.to_json()))


def tags_of(event: Event) -> list[list[str]]:
    return [list(t) for t in event.tags]


# -- every type, through JSON and back -----------------------------------------------------------------------

EXAMPLES: list[tuple[str, str, dict[str, Any], PostFields]] = [
    ("news", "Метро закрыто", {}, PostFields()),
    (
        "alert",
        "ОМОН у выхода",
        {"location": "м. Пушкинская", "geohash": "u9edp2k"},
        PostFields(location="м. Пушкинская", geohash="u9edp2k", expiration=T + 2000 + po.ALERT_TTL),
    ),
    (
        "help",
        "",
        {"need": "Инсулин", "reach": "@helper в Signal"},
        PostFields(need="Инсулин", status="open", reach="@helper в Signal"),
    ),
    (
        "safe-place",
        "Можно переждать",
        {"location": "ул. Притыцкого 1", "hours": "до 23:00", "expiration": T + 86400},
        PostFields(location="ул. Притыцкого 1", hours="до 23:00", expiration=T + 86400),
    ),
    (
        "contact",
        "",
        {"role": "lawyer", "reach": "+375 29 000 00 00"},
        PostFields(role="lawyer", reach="+375 29 000 00 00"),
    ),
    (
        "event",
        "Марш",
        {"location": "Площадь", "geohash": "u9ed", "start": T + 9000, "end": T + 12600},
        PostFields(location="Площадь", geohash="u9ed", start=T + 9000, end=T + 12600),
    ),
    (
        "appeal",
        "Сбор на штрафы",
        {
            "purpose": "Штрафы задержанным",
            "give": ("IBAN BY00 0000", "bc1qexample"),
            "target": ("5000", "EUR"),
        },
        PostFields(purpose="Штрафы задержанным", give=("IBAN BY00 0000", "bc1qexample"), target=("5000", "EUR")),
    ),
]


@pytest.mark.parametrize(("post_type", "text", "fields", "expected"), EXAMPLES)
def test_every_type_round_trips(post_type: str, text: str, fields: dict[str, Any], expected: PostFields) -> None:
    event = po.build_post(
        ADMIN, CHANNEL, post_type, text, created_at=T + 2000, subject="Тема", hashtags=["#Minsk"], **fields
    )
    again = wire(event)
    assert again == event
    post = po.parse_post(again)
    assert (post.post_type, post.text, post.subject, post.hashtags) == (post_type, text, "Тема", ("minsk",))
    assert post.fields == expected
    assert post.channel == CHANNEL.address
    assert post.channel_relay == "wss://relay.example.org"
    assert th.post_verdict(again, CHANNEL, T + 2000).ok


def test_alert_tag_layout() -> None:
    event = po.build_post(
        ADMIN,
        CHANNEL,
        "alert",
        "ОМОН",
        created_at=T,
        location="м. Пушкинская",
        geohash="u9edp2",
        relay_hint="",
    )
    assert tags_of(event) == [
        ["a", CHANNEL.address, ""],
        ["type", "alert"],
        ["location", "м. Пушкинская"],
        ["g", "u9e"],
        ["g", "u9ed"],
        ["g", "u9edp"],
        ["g", "u9edp2"],
        ["expiration", str(T + 3 * 3600)],
        ["alt", "Samizdat channel post (alert)"],
    ]
    assert event.kind == 2333
    assert event.expiration == T + 3 * 3600


def test_appeal_and_event_tag_layout() -> None:
    appeal = po.build_post(
        OWNER, CHANNEL, "appeal", "", created_at=T, purpose="Штрафы", give=("IBAN",), target=("0.5", "BTC")
    )
    assert ["target", "0.5", "BTC"] in tags_of(appeal)
    assert ["give", "IBAN"] in tags_of(appeal)
    event = po.build_post(OWNER, CHANNEL, "event", "", created_at=T, location="Площадь", start=T + 60)
    assert ["start", str(T + 60)] in tags_of(event)
    assert not [t for t in event.tags if t[0] == "end"]


# -- a person's mistakes -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("post_type", "text", "fields", "message"),
    [
        ("alert", "ОМОН", {}, "An alert needs a location."),
        ("alert", "", {"location": "x"}, "An alert needs text."),
        ("alert", "ОМОН", {"location": "x", "expiration": T - 1}, "An alert must expire after it is posted."),
        (
            "alert",
            "ОМОН",
            {"location": "x", "expiration": T + 8 * 86400},
            "An alert must expire within 7 days.",
        ),
        ("news", "", {}, "A news post needs text."),
        ("help", "", {}, "A help request needs to say what is needed."),
        ("help", "", {"need": "x", "status": "done"}, "A help request's status must be open or resolved."),
        ("contact", "", {"reach": "x"}, "A contact post needs a role (lawyer, medic or other)."),
        ("contact", "", {"role": "cook", "reach": "x"}, "A contact's role must be lawyer, medic or other."),
        ("event", "", {"location": "x"}, "An event post needs a start time."),
        ("event", "", {"location": "x", "start": T, "end": T}, "An event must end after it starts."),
        ("appeal", "", {"purpose": "x"}, "An appeal needs to say how to give."),
        (
            "appeal",
            "",
            {"purpose": "x", "give": ("y",), "target": ("lots", "EUR")},
            "target must be an amount",
        ),
        ("safe-place", "", {"location": "a\nb"}, "contains line breaks"),
        ("news", "x", {"need": "y"}, "Need does not apply to a news post."),
        ("alert", "x", {"location": "x", "geohash": "u9ea"}, "is not a geohash"),
        ("rumour", "x", {}, "Unknown post type 'rumour'"),
        ("correction", "x", {}, "Use build_correction"),
        ("news", "\x1b[31mred", {}, "control characters"),
    ],
)
def test_builder_refuses_with_one_sentence(post_type: str, text: str, fields: dict[str, Any], message: str) -> None:
    with pytest.raises(UsageError) as info:
        po.build_post(ADMIN, CHANNEL, post_type, text, created_at=T, **fields)
    assert message in str(info.value)
    assert str(info.value).endswith(".")
    assert "\n" not in str(info.value)


@pytest.mark.parametrize(("key", "created_at"), [(STRANGER, T), (FORMER, SINCE), (ADMIN, T)])
def test_only_the_channels_people_can_build_posts(key: SecretKey, created_at: int) -> None:
    channel = OTHER if key is ADMIN else CHANNEL  # ADMIN owns OTHER, so try EDITOR there instead
    signer = EDITOR if key is ADMIN else key
    with pytest.raises(UsageError, match="not the owner, an admin or an editor of the channel"):
        po.build_post(signer, channel, "news", "x", created_at=created_at)


def test_a_former_admin_can_still_sign_posts_dated_before_since() -> None:
    # Not a feature: created_at is self-declared, so revoked keys are mere editors (docs/protocol.md).
    event = po.build_post(FORMER, CHANNEL, "news", "backdated", created_at=SINCE - 1)
    assert th.post_verdict(event, CHANNEL, SINCE + 10).role == "former"


# -- corrections ---------------------------------------------------------------------------------------------


def _original(key: SecretKey = EDITOR) -> Event:
    return po.build_post(key, CHANNEL, "help", "Нужен транспорт", created_at=T + 2000, need="Машина до Жодино")


def test_correction_layout_and_round_trip() -> None:
    original = _original()
    correction = po.build_correction(
        ADMIN, CHANNEL, original, "Нужны две машины", created_at=T + 2100, need="Две машины"
    )
    assert tags_of(correction)[:3] == [
        ["a", CHANNEL.address, "wss://relay.example.org"],
        ["type", "correction"],
        ["e", original.id, "wss://relay.example.org", "correction", EDITOR.public_key_hex],
    ]
    post = po.parse_post(wire(correction))
    assert post.target == original.id
    assert post.fields == PostFields(need="Две машины")


@pytest.mark.parametrize(
    ("key", "changes", "text", "message"),
    [
        (EDITOR, {}, "", "A correction must change the text or a field."),
        (EDITOR, {"role": "medic"}, "", "A correction cannot change role of a help request."),
        (EDITOR, {"expiration": T + 99999}, "", "A correction cannot change expiration"),
        (
            EDITOR,
            {"status": "done"},
            "",
            "After this correction, a help request's status must be open or resolved.",
        ),
        (STRANGER, {}, "x", "This key is not the owner, an admin or an editor"),
    ],
)
def test_correction_mistakes(key: SecretKey, changes: dict[str, Any], text: str, message: str) -> None:
    with pytest.raises(UsageError) as info:
        po.build_correction(key, CHANNEL, _original(), text, created_at=T + 2100, **changes)
    assert message in str(info.value)


def test_editors_amend_only_their_own_posts() -> None:
    owners = _original(OWNER)
    with pytest.raises(UsageError, match="Only the channel's owner may correct the owner's or an admin's post"):
        po.build_correction(EDITOR, CHANNEL, owners, "x", created_at=T + 2100)
    with pytest.raises(UsageError, match="editors only their own"):
        po.build_retraction(EDITOR, CHANNEL, owners, "x", created_at=T + 2100)


def test_amendments_must_target_an_original_post_of_this_channel() -> None:
    original = _original()
    correction = po.build_correction(ADMIN, CHANNEL, original, "x", created_at=T + 2100)
    with pytest.raises(UsageError, match="cannot itself be corrected"):
        po.build_correction(ADMIN, CHANNEL, correction, "y", created_at=T + 2200)
    with pytest.raises(UsageError, match="belongs to another channel"):
        po.build_retraction(ADMIN, OTHER, original, "y", created_at=T + 2200)
    note = sign_event(ADMIN, kinds.TEXT_NOTE, "x", [], created_at=T)
    with pytest.raises(UsageError, match="not a valid channel post: a channel post is kind 2333"):
        po.build_correction(ADMIN, CHANNEL, note, "y", created_at=T + 2200)


def test_resolution_is_a_correction_of_a_help_request_only() -> None:
    resolved = po.parse_post(wire(po.build_resolution(EDITOR, CHANNEL, _original(), created_at=T + 2100)))
    assert resolved.post_type == "correction"
    assert resolved.fields.status == "resolved"
    assert resolved.text == ""
    assert resolved.resolution == ""
    assert not [t for t in resolved.event.tags if t[0] == "resolution"]  # no note, no tag
    news = po.build_post(EDITOR, CHANNEL, "news", "x", created_at=T)
    with pytest.raises(UsageError, match="Only a help request"):
        po.build_resolution(EDITOR, CHANNEL, news, created_at=T + 1)


def test_resolution_note_layout_and_round_trip() -> None:
    original = _original()
    event = po.build_resolution(EDITOR, CHANNEL, original, "  Сосед отвёз на машине ", created_at=T + 2100)
    assert event.content == ""  # empty content: every reader, old or new, keeps the request's text
    assert tags_of(event) == [
        ["a", CHANNEL.address, "wss://relay.example.org"],
        ["type", "correction"],
        ["e", original.id, "wss://relay.example.org", "correction", EDITOR.public_key_hex],
        ["status", "resolved"],
        ["resolution", "Сосед отвёз на машине"],
        ["alt", "Samizdat channel post (correction)"],
    ]
    post = po.parse_post(wire(event))
    assert (post.post_type, post.text, post.resolution) == ("correction", "", "Сосед отвёз на машине")
    assert post.fields == PostFields(status="resolved")
    longest = po.build_resolution(EDITOR, CHANNEL, original, "я" * po.MAX_RESOLUTION, created_at=T + 2100)
    assert po.parse_post(longest).resolution == "я" * 500
    # build_correction takes a note too, with the status resolved
    corrected = po.build_correction(
        EDITOR, CHANNEL, original, "Нужны две машины", created_at=T + 2100, status="resolved", resolution="Обе нашлись"
    )
    assert po.parse_post(corrected).resolution == "Обе нашлись"


@pytest.mark.parametrize(
    ("note", "message"),
    [
        ("я" * 501, "The resolution note is longer than 500 characters."),
        ("Отвёз\nсосед", "The resolution note contains line breaks or control characters."),
        ("Отвёз\x1b[31m", "The resolution note contains line breaks or control characters."),
        ("Отвёз\u2028сосед", "The resolution note contains line breaks or control characters."),
    ],
)
def test_resolution_note_mistakes(note: str, message: str) -> None:
    with pytest.raises(UsageError) as info:
        po.build_resolution(EDITOR, CHANNEL, _original(), note, created_at=T + 2100)
    assert str(info.value) == message


def test_resolution_note_only_with_status_resolved() -> None:
    with pytest.raises(UsageError, match="A resolution note goes with a correction that sets the status to resolved"):
        po.build_correction(EDITOR, CHANNEL, _original(), "x", created_at=T + 2100, resolution="Сосед отвёз")


_RESOLVES = [["e", "ab" * 32, "", "correction"], ["status", "resolved"]]


@pytest.mark.parametrize(
    ("extra", "why"),
    [
        ([*_RESOLVES, ["resolution", "x" * 501]], "the 'resolution' tag is longer than 500 characters"),
        ([*_RESOLVES, ["resolution", "a\nb"]], "the 'resolution' tag contains line breaks or control characters"),
        ([*_RESOLVES, ["resolution", "bell\x07"]], "the 'resolution' tag contains line breaks or control"),
        ([*_RESOLVES, ["resolution", " x"]], "the 'resolution' tag starts or ends with spaces"),
        ([*_RESOLVES, ["resolution", ""]], "the 'resolution' tag is empty"),
        ([*_RESOLVES, ["resolution"]], "the post's 'resolution' tag has no value"),
        ([*_RESOLVES, ["resolution", "a"], ["resolution", "b"]], "more than one 'resolution' tag"),
        ([_RESOLVES[0], ["resolution", "a"]], "a correction with a 'resolution' tag must set the status to resolved"),
        ([_RESOLVES[0], ["status", "open"], ["resolution", "a"]], "must set the status to resolved"),
    ],
)
def test_parse_post_checks_the_resolution_tag(extra: list[list[str]], why: str) -> None:
    with pytest.raises(RemoteProtocolError) as info:
        po.parse_post(_raw("correction", extra, text=""))
    assert why in str(info.value)


def test_a_resolution_tag_on_other_types_is_ignored() -> None:
    post = po.parse_post(_raw("help", [["need", "x"], ["status", "resolved"], ["resolution", "a\nb"]]))
    assert post.resolution == ""


# -- retractions ---------------------------------------------------------------------------------------------


def test_retraction_of_ones_own_post_comes_with_a_nip09_deletion() -> None:
    original = _original()
    retraction, deletion = po.build_retraction(EDITOR, CHANNEL, original, "Уже не нужно", created_at=T + 2100)
    assert deletion is not None
    assert wire(deletion) == deletion
    assert deletion.kind == 5
    assert deletion.pubkey == original.pubkey
    assert tags_of(deletion) == [["e", original.id], ["k", "2333"]]
    assert deletion.content == "Уже не нужно"
    post = po.parse_post(wire(retraction))
    assert post.post_type == "retraction"
    assert post.target == original.id
    assert post.text == "Уже не нужно"
    assert ["e", original.id, "wss://relay.example.org", "retraction", EDITOR.public_key_hex] in tags_of(retraction)


def test_retraction_of_someone_elses_post_has_no_deletion() -> None:
    _, deletion = po.build_retraction(OWNER, CHANNEL, _original(), "Фейк", created_at=T + 2100)
    assert deletion is None


def test_retraction_needs_a_reason() -> None:
    with pytest.raises(UsageError, match="needs a reason"):
        po.build_retraction(EDITOR, CHANNEL, _original(), "  ", created_at=T + 2100)


# -- parsing hostile posts -----------------------------------------------------------------------------------


def _raw(post_type: str, extra: Sequence[Sequence[str]], text: str = "x", a: str | None = None) -> Event:
    tags = [["a", a if a is not None else CHANNEL.address], ["type", post_type], *extra]
    return sign_event(ADMIN, kinds.POST, text, tags, created_at=T)


@pytest.mark.parametrize(
    ("event", "why"),
    [
        (_raw("news", [], a="30333:nothex:x"), "channel address is malformed"),
        (_raw("news", [], a=f"30333:{OWNER.public_key_hex}:"), "channel address is malformed"),
        (_raw("news", [["type", "alert"]]), "more than one 'type'"),
        (_raw("news", [["t", str(i)] for i in range(21)]), "more than 20 hashtags"),
        (_raw("news", [["subject", "s" * 201]]), "longer than 200"),
        (_raw("news", [], text="x" * 20_001), "longer than 20000"),
        (_raw("help", [["need", " x"], ["status", "open"]]), "starts or ends with spaces"),
        (
            _raw("alert", [["location", "x"], ["g", "u9e"], ["g", "u4p"], ["expiration", str(T + 60)]]),
            "different",
        ),
        (_raw("appeal", [["purpose", "x"], ["give", "y"], ["target", "5"]]), "'target' tag must be"),
        (_raw("appeal", [["purpose", "x"], *[["give", str(i)] for i in range(11)]]), "more than 10 'give'"),
        (_raw("correction", []), "must name the post it amends"),
        (_raw("correction", [["e", "ab" * 32, "", "retraction"]]), "must name the post it amends"),
        (_raw("retraction", [["e", "ab" * 32, "", "retraction"]], text=""), "needs text"),
        (_raw("news", [["expiration", "soon"]]), "not a unix time"),
        (_raw("news", [["expiration", "١٧٠٠٠٠٠٠٠٠"]]), "not a unix time"),  # Arabic-Indic digits
        (_raw("news", [["type"]]), "more than one 'type'"),
    ],
)
def test_parse_post_refuses_malformed_posts(event: Event, why: str) -> None:
    with pytest.raises(RemoteProtocolError, match=why) as info:
        po.parse_post(event)
    assert info.value.reply.startswith("invalid: ")


def test_parse_post_ignores_fields_that_do_not_belong_to_the_type() -> None:
    post = po.parse_post(_raw("news", [["need", "x"], ["future-tag", "y"], ["e", "ab" * 32, "", "mention"]]))
    assert post.fields == PostFields()
    assert post.target is None


# -- labels --------------------------------------------------------------------------------------------------


def test_label_layout_and_round_trip() -> None:
    original = _original()
    event = po.build_label(
        VERIFIER, original, "misleading", "Фото 2019 года", created_at=T + 3000, relay_hint="wss://v"
    )
    assert event.kind == 1985
    assert tags_of(event)[:4] == [
        ["L", "samizdat.verify"],
        ["l", "misleading", "samizdat.verify"],
        ["e", original.id, "wss://v"],
        ["p", original.pubkey, "wss://v"],
    ]
    label = po.parse_label(wire(event))
    assert (label.value, label.post_id, label.post_author, label.reason) == (
        "misleading", original.id, EDITOR.public_key_hex, "Фото 2019 года",
    )  # fmt: skip
    assert label.verifier == VERIFIER.public_key_hex


def test_label_values_are_a_closed_set() -> None:
    with pytest.raises(UsageError, match="confirmed, disputed, false, misleading"):
        po.build_label(VERIFIER, _original(), "fake", created_at=T)


def _label(tags: list[list[str]], kind: int = kinds.LABEL) -> Event:
    return sign_event(VERIFIER, kind, "", tags, created_at=T)


E = ["e", "ab" * 32, ""]


@pytest.mark.parametrize(
    ("event", "why"),
    [
        (_label([["L", "samizdat.verify"], ["l", "false", "samizdat.verify"], E], kind=1), "kind 1985"),
        (_label([["L", "ugc"], ["l", "false", "ugc"], E]), "namespace"),
        (_label([["L", "samizdat.verify"], ["l", "false"], E]), "must carry one of"),
        (_label([["L", "samizdat.verify"], ["l", "spam", "samizdat.verify"], E]), "must carry one of"),
        (_label([["L", "samizdat.verify"], ["l", "false", "samizdat.verify"]]), "exactly one post"),
        (
            _label([["L", "samizdat.verify"], ["l", "false", "samizdat.verify"], E, ["e", "cd" * 32]]),
            "exactly one",
        ),
        (
            _label(
                [
                    ["L", "samizdat.verify"],
                    ["l", "false", "samizdat.verify"],
                    ["l", "confirmed", "samizdat.verify"],
                    E,
                ]
            ),
            "must carry one of",
        ),
    ],
)
def test_parse_label_refuses_what_is_not_a_verification_label(event: Event, why: str) -> None:
    with pytest.raises(RemoteProtocolError, match=why):
        po.parse_label(event)


def test_labels_in_other_namespaces_ride_along() -> None:
    event = _label(
        [
            ["L", "samizdat.verify"],
            ["L", "ISO-639-1"],
            ["l", "ru", "ISO-639-1"],
            ["l", "false", "samizdat.verify"],
            E,
        ]
    )
    assert po.parse_label(event).value == "false"

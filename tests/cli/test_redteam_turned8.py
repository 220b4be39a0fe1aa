"""Red team round 8, the turned admin: an admin's key the police hold, after the owner removed it. A removed key can
still sign events dated before its removal (docs/protocol.md, "Revocation"), and nobody can tell those from its
genuine old ones. Its backdated *correction* of the safe place it posted while it was trusted moved that place, in
``samizdat feed``, to where the police wait: the post was marked "by a former admin" as before, but readers who knew
the place saw a new address under it. Now a removed key's corrections are not applied, and the feed says so."""

from __future__ import annotations

from pathlib import Path

from test_feed_flood import NOW, yard_with_admin

from samizdat.cli.render import post_json, render_feed
from samizdat.core.keys import SecretKey
from samizdat.core.posts import build_correction, build_post, build_retraction
from samizdat.services import feed, posts

TURNED = SecretKey(bytes([81]) * 32)
SAFE, TRAP = "Flat 3, Lenina 5", "Yard of Lenina 40"


async def test_a_removed_admins_backdated_correction_does_not_move_their_safe_place(tmp_path: Path) -> None:
    async with yard_with_admin(tmp_path / "node", TURNED) as (node, clock, trusted):
        ctx = node.ctx
        place = build_post(TURNED, trusted, "safe-place", "Tea and a charger", created_at=NOW + 60, location=SAFE)
        await ctx.ingest([place])
        clock.advance(86400)  # a day later the admin is arrested; the owner removes the key from the arrest on
        arrest = NOW + 80000
        await posts.change_admins(ctx, "yard", add=[], role="admin", remove=[TURNED.public_key_hex], since=arrest)
        clock.advance(3600)
        # The police's client signs with the definition that still listed the key, dated a second before the arrest.
        moved = build_correction(TURNED, trusted, place, "Moved: come to the yard", created_at=arrest - 1,
                                 location=TRAP)  # fmt: skip
        await ctx.ingest([moved])

        items = [post_json(item) for item in await feed.feed(ctx, "yard")]
        [item] = [i for i in items if i["id"] == place.id]
        assert item["role"] == "former"
        assert item["fields"]["location"] == SAFE
        assert item["text"] == "Tea and a charger"
        text = render_feed([item])
        assert TRAP not in text
        assert "by a former admin" in text.splitlines()[0]
        assert "NOT APPLIED: 1 correction(s) by its removed key" in text

        # The key may still withdraw its own post (NIP-09 lets it delete it anyway), and the owner may still move
        # it: the owner's word counts.
        owner_moved = build_correction(ctx.key, trusted, place, "", created_at=ctx.now(), location="Flat 9, Lenina 5")
        await ctx.ingest([owner_moved])
        [item] = [post_json(i) for i in await feed.feed(ctx, "yard") if i.original and i.original.id == place.id]
        assert item["fields"]["location"] == "Flat 9, Lenina 5"
        withdrawn, _deletion = build_retraction(TURNED, trusted, place, "Closed", created_at=arrest - 1)
        await ctx.ingest([withdrawn])  # the retraction alone: its deletion request would withdraw the post anyway
        [item] = [post_json(i) for i in await feed.feed(ctx, "yard") if i.original and i.original.id == place.id]
        assert item["status"] == "retracted"


EDITOR = SecretKey(bytes([82]) * 32)


async def test_removing_an_admin_keeps_the_retractions_they_made_before_their_removal(tmp_path: Path) -> None:
    """A former admin amends only its own posts (a removed key can backdate anything), so removing an honest admin
    who was arrested un-retracted every fake they had withdrawn: the police's safe place, posted with an editor's
    seized key and retracted by that admin, was back in every reader's feed, unmarked, the moment the owner removed
    the arrested admin. Now the owner's node signs those retractions again, as the owner's, when it removes the
    admin; those dated from the arrest on (the police's, with the key) are not kept."""
    async with yard_with_admin(tmp_path / "node", TURNED) as (node, clock, _):
        ctx = node.ctx
        trusted, _ = await posts.change_admins(ctx, "yard", add=[EDITOR.public_key_hex], role="editor", remove=[],
                                               since=None)  # fmt: skip
        fake = build_post(EDITOR, trusted, "safe-place", "Doctors here", created_at=NOW + 60, location=TRAP)
        real = build_post(EDITOR, trusted, "alert", "Police at the metro", created_at=NOW + 61,
                          location="Metro Lenina", expiration=NOW + 7 * 86400 - 100)  # fmt: skip
        withdrawn, _ = build_retraction(TURNED, trusted, fake, "A police trap", created_at=NOW + 120)
        await ctx.ingest([fake, real, withdrawn])
        clock.advance(86400)
        arrest = ctx.now() - 3600
        # With the key, the police withdraw the editor's real alert; then the owner learns of the arrest.
        silenced, _ = build_retraction(TURNED, trusted, real, "Not confirmed", created_at=arrest + 60)
        await ctx.ingest([silenced])

        def shown(items: list[dict[str, object]]) -> dict[object, object]:
            return {i["id"]: i["status"] for i in items}

        before = shown([post_json(i) for i in await feed.feed(ctx, "yard")])
        assert before == {fake.id: "retracted", real.id: "retracted"}
        _, result = await posts.change_admins(ctx, "yard", add=[], role="admin", remove=[TURNED.public_key_hex],
                                              since=arrest, keep_all=True)  # kept after a look (round 12)  # fmt: skip
        after = shown([post_json(i) for i in await feed.feed(ctx, "yard")])
        assert after == {fake.id: "retracted", real.id: "valid"}
        assert result is not None
        assert len(result.ids) == 2  # the definition, and the one retraction kept
        [item] = [post_json(i) for i in await feed.feed(ctx, "yard") if i.original and i.original.id == fake.id]
        assert item["retraction"]["reason"] == "A police trap"


async def test_removing_an_admin_keeps_their_genuine_correction_of_their_own_safe_place(tmp_path: Path) -> None:
    """A removed key's corrections no longer count (the first test), so removing an arrested admin who had moved
    their safe place away from a raided flat put it back at the raided flat. The owner's node signs that move
    again when it removes them; the police's move, dated after the arrest, is not kept."""
    async with yard_with_admin(tmp_path / "node", TURNED) as (node, clock, trusted):
        ctx = node.ctx
        raided, safe = "Flat 3, Lenina 5 (raided on Monday)", "Flat 12, Gorkogo 8"
        place = build_post(TURNED, trusted, "safe-place", "Tea and a charger", created_at=NOW + 60, location=raided)
        moved = build_correction(TURNED, trusted, place, "", created_at=NOW + 600, location=safe)
        await ctx.ingest([place, moved])
        clock.advance(86400)
        arrest = ctx.now() - 3600
        police = build_correction(TURNED, trusted, place, "", created_at=arrest + 60, location=TRAP)
        await ctx.ingest([police])
        _, result = await posts.change_admins(ctx, "yard", add=[], role="admin", remove=[TURNED.public_key_hex],
                                              since=arrest)  # fmt: skip
        [item] = [post_json(i) for i in await feed.feed(ctx, "yard") if i.original and i.original.id == place.id]
        assert item["fields"]["location"] == safe
        assert item["role"] == "former"
        assert result is not None
        assert len(result.ids) == 2

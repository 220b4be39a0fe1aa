"""Setting up an encrypted node and the commands around its keys: ``passphrase add|change|remove``, ``lock``,
``wipe``, and ``encrypt`` (a plain node made encrypted). The work is :mod:`samizdat.services.keyring`'s and
:mod:`samizdat.services.encryption`'s; here are the questions and the answers."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

from samizdat.cli.common import (
    ask_passphrase,
    emit,
    has_terminal,
    home,
    node_keys,
    settle,
    state,
    unlock_with,
    warn,
)
from samizdat.config import IDENTITY_SEALED, load_identity
from samizdat.core import nip19
from samizdat.core.keys import SecretKey
from samizdat.errors import UsageError
from samizdat.services import encryption, keyring

passphrase_app = typer.Typer(help="Manage the passphrases that unlock this node.", no_args_is_help=True)

PLAIN_WARNING = (
    "this node's data will NOT be encrypted: whoever holds this disk can read it and post as this node; "
    "that is right only for a hub with no private state (docs/hub.md)"
)


def _identity(path: Path, created: bool, encrypted: bool) -> dict[str, Any]:
    key = load_identity(path, node_keys(path) if encrypted else None)
    npub = nip19.npub_encode(key.public_key_hex)
    return {"home": str(path), "created": created, "npub": npub, "pubkey": key.public_key_hex, "encrypted": encrypted}


def init_node(path: Path, *, plain: bool, secret: SecretKey | None = None) -> dict[str, Any]:
    """``samizdat init``: set up ``path`` (encrypted unless ``plain``; with ``secret`` as its identity when one is
    imported) or report the node it holds."""
    settle(path)
    kind = keyring.kind(path)
    if kind == "plain":
        return _identity(path, False, False)
    if kind == "encrypted":
        if (path / IDENTITY_SEALED).exists():
            return _identity(path, False, True)
        keys = node_keys(path)
        assert keys is not None
        created = keyring.finish(path, keys)  # an init interrupted after writing the key slots
        return _identity(path, created, True)
    if plain:
        warn(PLAIN_WARNING)
        keyring.create_plain(path, secret=secret)
        return _identity(path, True, False)
    passphrase = ask_passphrase(
        "New passphrase for this node: ",
        missing="samizdat init needs a passphrase to encrypt the node (or --no-passphrase, for a hub)",
        confirm=True,
    )
    if keyring.kdf_test():
        warn(f"{keyring.KDF_TEST_VARIABLE}=1: the passphrase's key derivation is weak, for tests only")
    else:
        typer.echo("Measuring this machine for the passphrase's key derivation (a few seconds)...", err=True)
    params = keyring.init_params()
    state.keys = keyring.create(path, passphrase, params, secret=secret)
    return _identity(path, True, True)


def _kept(summary: dict[str, Any]) -> str:
    local = summary.get("local") or {}
    parts = [f"{summary.get('events', 0)} events"] + [
        f"{local.get(table, 0)} {what}"
        for table, what in (("follows", "follows"), ("outbox", "outbox entries"), ("routes", "routes"),
                            ("peers", "peers"))
    ]  # fmt: skip
    return ", ".join(parts)


def encrypt_node(path: Path) -> dict[str, Any]:
    """``samizdat encrypt``: encrypt the plain ``path`` under a new passphrase, or finish an interrupted run."""
    settled = settle(path)
    if settled is not None and settled.finished:
        return {"home": str(path), "encrypted": True, "resumed": True, **settled.summary}
    encryption.check(path)
    passphrase = ask_passphrase(
        "New passphrase for this node: ", missing="samizdat encrypt needs the new passphrase", confirm=True
    )
    if keyring.kdf_test():
        warn(f"{keyring.KDF_TEST_VARIABLE}=1: the passphrase's key derivation is weak, for tests only")
    else:
        typer.echo("Measuring this machine for the passphrase's key derivation (a few seconds)...", err=True)
    params = keyring.init_params()
    typer.echo(f"Encrypting {path}: copying, then checking every row before the plain files go...", err=True)
    summary = encryption.encrypt(path, passphrase, params)
    return {"home": str(path), "encrypted": True, "resumed": False, **summary}


def _new_passphrase(missing: str) -> str:
    return ask_passphrase("New passphrase: ", missing=missing, confirm=True)


def _encrypted(path: Path) -> None:
    if keyring.kind(path) != "encrypted":
        raise UsageError(f"{path} has no passphrase: it is not encrypted (`samizdat init` makes encrypted nodes)")


def register(app: typer.Typer) -> None:
    app.add_typer(passphrase_app, name="passphrase")

    def current(path: Path) -> keyring.Unlocked:
        _encrypted(path)
        return unlock_with(lambda passphrase: keyring.open_slots(path, passphrase, state.delay), "Current passphrase: ")

    @passphrase_app.command("check")
    def passphrase_check() -> None:
        """Check that a passphrase unlocks this node. It also counts as being there for [safety] wipe_after_days."""
        current(home())
        typer.echo("The passphrase unlocks this node")

    @passphrase_app.command("add")
    def passphrase_add(as_json: bool = typer.Option(False, "--json", help="Print JSON.")) -> None:
        """Let another passphrase unlock this node too (up to 8)."""
        unlocked = current(home())
        count = keyring.add_passphrase(unlocked, _new_passphrase("a new passphrase is needed"))
        emit({"passphrases": count}, as_json, f"Added: {count} passphrases unlock this node")

    @passphrase_app.command("change")
    def passphrase_change(as_json: bool = typer.Option(False, "--json", help="Print JSON.")) -> None:
        """Replace the passphrase you type first with a new one."""
        unlocked = current(home())
        count = keyring.change_passphrase(unlocked, _new_passphrase("a new passphrase is needed"))
        emit({"passphrases": count}, as_json, "Changed: the old passphrase no longer unlocks this node")

    @passphrase_app.command("remove")
    def passphrase_remove(as_json: bool = typer.Option(False, "--json", help="Print JSON.")) -> None:
        """Stop a passphrase from unlocking this node (never the last one)."""
        unlocked = current(home())
        doomed = ask_passphrase("Passphrase to remove: ", missing="the passphrase to remove is needed")
        count = keyring.remove_passphrase(unlocked, doomed)
        emit({"passphrases": count}, as_json, f"Removed: {count} passphrases unlock this node")

    @passphrase_app.command("duress")
    def passphrase_duress(
        follow: list[str] = typer.Option(
            [],
            "--follow",
            metavar="CHANNEL",
            help="A public channel the decoy store follows (naddr or address; repeatable).",
        ),
        as_json: bool = typer.Option(False, "--json", help="Print JSON."),
    ) -> None:
        """Set the duress passphrase: typed at any unlock, it erases the real keys and opens the decoy store."""
        path = home()
        keyring.check_follows(follow)  # a typo changes nothing
        unlocked = current(path)
        keyring.set_duress(unlocked, _new_passphrase("the duress passphrase is needed"))
        channels = keyring.decoy_follow(path, unlocked, follow)
        emit(
            {"duress": True, "decoy_follows": channels},
            as_json,
            "Duress passphrase set. Typed at any unlock, it erases this node's keys (its data can never be read again)"
            f" and opens the decoy store instead, which follows {len(channels)} channels (docs/safety.md)",
        )

    @app.command()
    def encrypt(as_json: bool = typer.Option(False, "--json", help="Print JSON.")) -> None:
        """Encrypt this node's data under a new passphrase (a node made with --no-passphrase or by an older
        version): every event, follow, outbox entry and route is kept, checked, and only then are the plain
        files deleted."""
        data = encrypt_node(home())
        verb = "Finished encrypting" if data["resumed"] else "Encrypted"
        emit(data, as_json, f"{verb} {data['home']}: kept {_kept(data)} (verified by count and hash)")
        warn(encryption.FLASH_WARNING)

    @app.command()
    def lock() -> None:
        """Tell a running `samizdat serve` to drop its keys, close the stores and stop."""
        path = home()
        pid = keyring.lock(path)
        if pid is None:
            typer.echo(f"Nothing to lock: no `samizdat serve` runs on {path}")
        else:
            typer.echo(f"Locked: the node on {path} (pid {pid}) has dropped its keys and stopped")

    @app.command()
    def wipe(now: bool = typer.Option(False, "--now", help="Do not ask for confirmation.")) -> None:
        """Panic wipe: erase the keys (the data can never be read again), then delete the data directory."""
        path = home()
        if not now:
            if not has_terminal():
                raise UsageError("wipe asks for confirmation on a terminal; give --now to wipe without asking")
            typer.echo(f"This erases the keys of {path} and deletes it: nothing in it can be read again, by anyone.")
            if input("Type wipe to go on: ").strip().lower() != "wipe":
                raise UsageError("not confirmed; nothing was deleted")
        plain = keyring.kind(path) == "plain"
        pid = keyring.wipe(path)
        told = f" (the running serve, pid {pid}, was stopped)" if pid else ""
        typer.echo(f"Wiped: {path} is gone{told}")
        if plain:
            warn("it was not encrypted: its files were overwritten, but flash storage and what SQLite deleted "
                 "under versions before this one may still be found on the disk")  # fmt: skip

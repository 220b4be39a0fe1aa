"""Setting up an encrypted node and the commands around its keys: ``passphrase add|change|remove``, ``lock``,
``wipe``. The work is :mod:`samizdat.services.keyring`'s; here are the questions and the answers."""

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
    state,
    unlock_with,
    warn,
)
from samizdat.config import IDENTITY_SEALED, load_identity
from samizdat.core import nip19
from samizdat.errors import UsageError
from samizdat.services import keyring

passphrase_app = typer.Typer(help="Manage the passphrases that unlock this node.", no_args_is_help=True)

PLAIN_WARNING = (
    "this node's data will NOT be encrypted: whoever holds this disk can read it and post as this node; "
    "that is right only for a hub with no private state (docs/hub.md)"
)


def _identity(path: Path, created: bool, encrypted: bool) -> dict[str, Any]:
    key = load_identity(path, node_keys(path) if encrypted else None)
    npub = nip19.npub_encode(key.public_key_hex)
    return {"home": str(path), "created": created, "npub": npub, "pubkey": key.public_key_hex, "encrypted": encrypted}


def init_node(path: Path, *, plain: bool) -> dict[str, Any]:
    """``samizdat init``: set up ``path`` (encrypted unless ``plain``) or report the node it holds."""
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
        keyring.create_plain(path)
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
    state.keys = keyring.create(path, passphrase, params)
    return _identity(path, True, True)


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
            warn("it was not encrypted: its deleted files may still be found on the disk")

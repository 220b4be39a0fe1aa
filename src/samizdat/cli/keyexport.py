"""``samizdat keys export``: the node's secret key as a NIP-49 ``ncryptsec``, and reading one back for
``samizdat init --import-key``.

The key is encrypted under an *export password* asked for here (twice at a terminal), never silently under the
node's passphrase: the string may end up on another device or on paper, and must not open the node's disk too.
The work is :mod:`samizdat.core.nip49`'s.
"""

from __future__ import annotations

from pathlib import Path

import typer

from samizdat.cli.common import ask_passphrase, home, node_keys, warn
from samizdat.config import load_identity
from samizdat.core import nip49
from samizdat.core.keys import SecretKey
from samizdat.errors import UsageError
from samizdat.services import keyring

EXPORT_WARNING = (
    "this is the key to everything this node is: whoever has this string and guesses its password can post as "
    "this node in every channel it runs, for ever. Keep it offline; choose a long password"
)


def export_key(path: Path, log_n: int) -> str:
    """The ``ncryptsec`` of the node in ``path``: its passphrase first (an encrypted node), then the export
    password. Key security byte: 0x00 for a plain node (its key lies on the disk in clear), else 0x02 (not
    tracked: an imported key's past is unknown). Raises UsageError."""
    key = load_identity(path, node_keys(path))
    warn(EXPORT_WARNING)
    password = ask_passphrase(
        "Export password (not the node's passphrase): ",
        missing="the export password is needed",
        confirm=True,
    )
    plain = keyring.kind(path) == "plain"
    security = nip49.KNOWN_INSECURE if plain else nip49.UNTRACKED
    return nip49.encrypt(key.secret, password, log_n=log_n, key_security=security)


def import_key(text: str) -> SecretKey:
    """The secret key in the ``ncryptsec`` ``text``, asking for its password. Raises UsageError (one sentence)."""
    nip49.parse(text)  # a malformed string fails before a password is asked for
    password = ask_passphrase("Password of the ncryptsec: ", missing="the ncryptsec's password is needed")
    try:
        return SecretKey(nip49.decrypt(text, password))
    except ValueError as exc:
        raise UsageError("the ncryptsec holds no valid secret key") from exc


def register(keys_app: typer.Typer) -> None:
    @keys_app.command("export")
    def keys_export(
        log_n: int = typer.Option(
            nip49.DEFAULT_LOG_N,
            "--log-n",
            min=nip49.DEFAULT_LOG_N,
            max=nip49.MAX_LOG_N,
            help="scrypt's cost, 2^N rounds (16 takes 64 MiB; each step doubles the memory and a guesser's work).",
        ),
    ) -> None:
        """Print this node's secret key encrypted with a password you choose (NIP-49 ncryptsec), to move it."""
        typer.echo(export_key(home(), log_n))

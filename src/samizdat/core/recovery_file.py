"""The text of a channel's recovery file, which its owner keeps on a stick away from the device.

Theory of operation
-------------------

A recovery file holds two things: the recovery key as a NIP-49 ``ncryptsec`` under a password the owner chooses,
and the signed channel definition naming that key (the proof a seizure claim carries). Whoever finds the stick
must learn neither whose channel it is nor anything about it. The first version wrote the definition as it is,
after a comment naming the channel: a stick found in a search gave the channel's name, its address, its owner's
key, its mirrors and its place, without the password. So the definition is now sealed under the same password::

    # comment lines (the same for every file)
    ncryptsec1...
    smzproof1<base64url of salt (16) | nonce (12) | ChaCha20-Poly1305(key, definition JSON, AAD)>

with ``key = scrypt(NFKC(password), salt, N=2^16, r=8, p=1)`` (:func:`samizdat.core.bundle_seal.derive_key`, the
sealed bundles' cost). Nothing is lost by it: the file is of use only to whoever knows the password, since the key
it carries is sealed under that password too. The sealed definition's length still tells roughly how long the
definition is (a few hundred bytes more or less: how many admins and mirrors), not what it says.

A file of the first version (the definition in the clear, on the line after the ``ncryptsec``) is still read.

Pure: text in, text out; the salt and the nonce come from the caller.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305

from samizdat.core.bundle_seal import derive_key

SEALED = "smzproof1"  #: the start of the sealed definition's line
SALT = 16
NONCE = 12
_AAD = b"samizdat/v1 recovery file definition"
HEADER = (
    "# A Samizdat channel's recovery key and its proof, both under this file's password.\n"
    "# Keep it off the device that runs the channel. `samizdat channel seized` reads it.\n"
)


class NotARecoveryFile(ValueError):
    """The text is not a recovery file (of either version)."""


@dataclass(frozen=True, slots=True)
class RecoveryText:
    """A recovery file as read, before its password is given: the ``ncryptsec`` and the definition's line (the
    definition's JSON in a file of the first version, else the sealed line)."""

    ncryptsec: str
    definition: str

    @property
    def sealed(self) -> bool:
        return self.definition.startswith(SEALED)


def render(ncryptsec: str, definition_json: bytes, password: str, *, salt: bytes, nonce: bytes) -> str:
    """The file's text: :data:`HEADER`, the ``ncryptsec`` and the definition sealed under ``password``."""
    if len(salt) != SALT or len(nonce) != NONCE:
        raise ValueError("a recovery file needs a 16-byte salt and a 12-byte nonce")
    sealed = ChaCha20Poly1305(derive_key(password, salt)).encrypt(nonce, definition_json, _AAD)
    line = SEALED + base64.urlsafe_b64encode(salt + nonce + sealed).decode().rstrip("=")
    return f"{HEADER}{ncryptsec}\n{line}\n"


def parse(text: str) -> RecoveryText:
    """The two lines that matter of a recovery file's ``text``; raises :class:`NotARecoveryFile`."""
    body = [line.strip() for line in text.splitlines() if line.strip() and not line.strip().startswith("#")]
    if len(body) != 2 or not body[0].startswith("ncryptsec1"):
        raise NotARecoveryFile("not a Samizdat recovery file")
    if not (body[1].startswith(SEALED) or body[1].startswith("{")):
        raise NotARecoveryFile("not a Samizdat recovery file")
    return RecoveryText(body[0], body[1])


def definition_json(found: RecoveryText, password: str) -> str:
    """The definition's JSON, opened with ``password`` when sealed; raises ValueError when the password does not
    open it or the line is damaged."""
    if not found.sealed:
        return found.definition
    text = found.definition[len(SEALED) :]
    try:
        raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except ValueError as exc:
        raise ValueError("the recovery file's proof is damaged") from exc
    if len(raw) < SALT + NONCE + 16:
        raise ValueError("the recovery file's proof is damaged")
    salt, nonce, sealed = raw[:SALT], raw[SALT : SALT + NONCE], raw[SALT + NONCE :]
    try:
        return ChaCha20Poly1305(derive_key(password, salt)).decrypt(nonce, sealed, _AAD).decode("utf-8")
    except (InvalidTag, UnicodeDecodeError) as exc:
        raise ValueError("the password does not open the recovery file's proof, or it is damaged") from exc

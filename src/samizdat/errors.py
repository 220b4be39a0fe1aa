"""The one exception tree of Samizdat.

::

    SamizdatError
    ├── LocalProtocolError        we misused an API (a bug on our side, or a caller's mistake)
    ├── RemoteProtocolError       a peer, relay or file misbehaved; carries the NIP-01 reply prefix
    │   └── BundleError           a bundle file is damaged or hostile
    ├── TransportError
    │   ├── ClosedTransport       the other side closed cleanly
    │   └── BrokenTransport       the connection failed (cause chained with ``raise ... from``)
    ├── StoreError                the local store cannot do what was asked (full disk, corrupt file, ...)
    └── UsageError                a person asked for something that cannot be done; the message is one
                                  sentence shown as-is by the command line

Third-party exceptions are mapped to these at the boundary (``raise ... from exc``), so a user never sees a
traceback for bad input: they see ``str(error)``.
"""

from __future__ import annotations

#: The machine-readable prefixes NIP-01 defines for OK and CLOSED messages.
PREFIXES = frozenset(
    {"duplicate", "pow", "blocked", "rate-limited", "invalid", "restricted", "mute", "error", "auth-required"}
)


class SamizdatError(Exception):
    """Base of every error Samizdat raises on purpose."""


class LocalProtocolError(SamizdatError):
    """We misused something: an API called out of order, or a value we built ourselves is wrong."""


class RemoteProtocolError(SamizdatError):
    """A peer or a file sent something we reject.

    ``prefix`` is the NIP-01 machine-readable prefix that goes in front of the reason in an ``OK`` or ``CLOSED``
    message (``invalid``, ``blocked``, ``rate-limited``, ...); ``str(error)`` is the human-readable reason without
    it, and :attr:`reply` is both joined as NIP-01 wants them.
    """

    def __init__(self, message: str, prefix: str = "invalid") -> None:
        if prefix not in PREFIXES:
            raise LocalProtocolError(f"unknown NIP-01 prefix {prefix!r}")
        super().__init__(message)
        self.prefix = prefix

    @property
    def reply(self) -> str:
        return f"{self.prefix}: {self}"


class BundleError(RemoteProtocolError):
    """A bundle file is not one of ours, is damaged, or is hostile (too big, a decompression bomb, ...)."""


class TransportError(SamizdatError):
    """A connection to a relay or peer could not carry a message."""


class ClosedTransport(TransportError):
    """The connection was closed, cleanly, by either side."""


class BrokenTransport(TransportError):
    """The connection failed; the underlying exception is chained as ``__cause__``."""


class StoreError(SamizdatError):
    """The local store cannot do what was asked."""


class UsageError(SamizdatError):
    """A person asked for something that cannot be done; the message is shown to them as-is."""

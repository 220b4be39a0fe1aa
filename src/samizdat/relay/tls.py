"""TLS for ``samizdat serve``: one server context from a certificate chain and its key (PEM files).

With it the relay's one port answers ``https://`` (the web app) and ``wss://`` (the relay) instead of ``http://`` and
``ws://``. A phone's browser keeps the app for offline use only on a secure page (service workers need a secure
context), so a node on the internet with a real certificate is readable offline after one visit; a hub on plain
HTTP is not (docs/web.md, "HTTPS").
"""

from __future__ import annotations

import ssl
from pathlib import Path

from samizdat.errors import UsageError


def server_context(cert: str | Path, key: str | Path) -> ssl.SSLContext:
    """A TLS server context (TLS 1.2 and later) for ``cert`` (PEM, the chain: the certificate first) and ``key``.
    UsageError with one sentence when a file is missing, unreadable, not PEM, or the key does not match."""
    for what, path in (("certificate", cert), ("key", key)):
        if not str(path):
            raise UsageError("TLS needs both a certificate and its key (--tls-cert and --tls-key)")
        if not Path(path).is_file():
            raise UsageError(f"the TLS {what} {path} does not exist or is not a file")
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    try:
        context.load_cert_chain(str(cert), str(key))
    except ssl.SSLError as exc:
        raise UsageError(
            f"cannot use the TLS certificate {cert} with the key {key}: {exc.reason or exc} "
            "(both must be PEM files, and the key must be the certificate's)"
        ) from exc
    except OSError as exc:
        raise UsageError(f"cannot read the TLS certificate or key: {exc.strerror or exc}") from exc
    return context

"""``samizdat web login`` / ``logout``: the operator's credential for the web app (see samizdat.web.operator)."""

from __future__ import annotations

import typer

from samizdat.cli.common import JsonOption, emit, home, qr_text
from samizdat.cli.render import plural
from samizdat.config import load_config, load_identity
from samizdat.services.instance import running_address
from samizdat.web.operator import forget_tokens, new_token

web_app = typer.Typer(help="The web app served by `samizdat serve`: operator login.", no_args_is_help=True)


def register(app: typer.Typer) -> None:
    app.add_typer(web_app, name="web")


@web_app.command("login")
def login(
    host: str | None = typer.Option(None, help="Address phones use to reach this node (default: from config)."),
    port: int | None = typer.Option(None, help="Port of `samizdat serve` (default: where it runs, else config)."),
    qr: bool = typer.Option(True, help="Also draw the link as a QR code."),
    as_json: bool = JsonOption,
) -> None:
    """Make a one-person operator code and print the link that logs a browser in as this node's key.

    Anyone with the link can post as the node's operator: open it only on your own phone. `samizdat web logout`
    revokes every code.
    """
    path = home()
    load_identity(path)  # a clear error before `samizdat init`
    running = running_address(path)  # a running `serve` may listen elsewhere than the config says (--port)
    config = load_config(path)
    if running is not None:
        config = config.with_overrides(host=running[0], port=running[1])
    config = config.with_overrides(host=host, port=port)
    shown = config.host if config.host not in ("0.0.0.0", "::", "") else "127.0.0.1"
    token = new_token(path)
    url = f"http://{shown}:{config.port}/#op={token}"
    note = "" if shown == config.host else "\n(replace 127.0.0.1 with this node's address on the hub's network)"
    emit({"url": url, "token": token}, as_json,
         lambda d: (qr_text(url) if qr else "") + f"Operator link (keep it private): {url}{note}")  # fmt: skip


@web_app.command("logout")
def logout(as_json: bool = JsonOption) -> None:
    """Revoke every operator code: browsers logged in with them can no longer act as this node."""
    count = forget_tokens(home())
    emit({"revoked": count}, as_json, f"Revoked {plural(count, 'operator code')}.")

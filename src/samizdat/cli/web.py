"""``samizdat web login`` / ``codes`` / ``logout``: the operator's codes for the web app (see
samizdat.web.operator)."""

from __future__ import annotations

import time
from typing import Any

import typer

from samizdat.cli.common import JsonOption, emit, home, node_keys, qr_text
from samizdat.cli.render import plural, when
from samizdat.cli.timeparse import parse_duration
from samizdat.config import load_config, load_identity
from samizdat.errors import UsageError
from samizdat.services import operator_codes
from samizdat.services.instance import running_address
from samizdat.web.operator import DEFAULT_LIFETIME, code_of, forget_tokens, list_codes, new_token, revoke_code

web_app = typer.Typer(help="The web app served by `samizdat serve`: operator login.", no_args_is_help=True)


def register(app: typer.Typer) -> None:
    app.add_typer(web_app, name="web")


@web_app.command("login")
def login(
    host: str | None = typer.Option(None, help="Address phones use to reach this node (default: from config)."),
    port: int | None = typer.Option(None, help="Port of `samizdat serve` (default: where it runs, else config)."),
    expires: str = typer.Option(
        f"{DEFAULT_LIFETIME // 86400}d", help="How long the code works, e.g. 12h, 7d, 2w (at most a year)."
    ),
    qr: bool = typer.Option(True, help="Also draw the link as a QR code."),
    as_json: bool = JsonOption,
) -> None:
    """Make a one-person operator code and print the link that logs a browser in as this node's key.

    Anyone with the link can post as the node's operator: open it only on your own phone. `samizdat web codes`
    lists the codes, `samizdat web logout ID` revokes one, `samizdat web logout --all` every one.
    """
    path = home()
    # A clear error before `samizdat init`; on an encrypted node, only who can unlock it may log in as it.
    keys = node_keys(path)
    load_identity(path, keys)
    operator_codes.use(path, keys)  # the code's hash is sealed in the codes file (services/operator_codes.py)
    lifetime = parse_duration(expires)
    running = running_address(path)  # a running `serve` may listen elsewhere than the config says (--port)
    config = load_config(path)
    if running is not None:
        config = config.with_overrides(host=running[0], port=running[1])
    config = config.with_overrides(host=host, port=port)
    shown = config.host if config.host not in ("0.0.0.0", "::", "") else "127.0.0.1"
    token = new_token(path, lifetime=lifetime)
    code = code_of(path, token)
    if code is None:  # another process rewrote the file in between: unheard of, but say so rather than lie
        raise UsageError("the new operator code was not kept; run `samizdat web login` again")
    url = f"http://{shown}:{config.port}/#op={token}"
    note = "" if shown == config.host else "\n(replace 127.0.0.1 with this node's address on the hub's network)"
    emit({"url": url, "token": token, "id": code.id, "expires": code.expires}, as_json,
         lambda d: (qr_text(url) if qr else "") + f"Operator link (keep it private): {url}{note}\n"
                   f"Code {code.id}, valid until {when(code.expires)}.")  # fmt: skip


def _codes_text(rows: list[dict[str, Any]]) -> str:
    if not rows:
        return "No operator codes. `samizdat web login` makes one."
    now = time.time()
    lines = [f"{'ID':<10}{'CREATED':<18}{'EXPIRES':<18}LAST USED"]
    for row in rows:
        expires = when(row["expires"]) + (" (expired)" if row["expires"] <= now else "")
        lines.append(f"{row['id']:<10}{when(row['created']):<18}{expires:<18}{when(row['last_used'])}")
    return "\n".join(lines)


@web_app.command("codes")
def codes(as_json: bool = JsonOption) -> None:
    """List the operator codes: id, when made, when they expire, when last used (the codes themselves are never
    stored)."""
    now = time.time()
    emit([code.to_dict(now) for code in list_codes(home())], as_json, _codes_text)


@web_app.command("logout")
def logout(
    code_id: str | None = typer.Argument(None, metavar="CODE-ID", help="The code to revoke (`samizdat web codes`)."),
    all_codes: bool = typer.Option(False, "--all", help="Revoke every code (also what no CODE-ID does)."),
    as_json: bool = JsonOption,
) -> None:
    """Revoke one operator code, or every one: browsers logged in with it can no longer act as this node."""
    if code_id is not None and not all_codes:
        code = revoke_code(home(), code_id)
        emit({"revoked": 1, "id": code.id}, as_json, f"Revoked operator code {code.id}.")
        return
    count = forget_tokens(home())
    emit({"revoked": count}, as_json, f"Revoked {plural(count, 'operator code')}.")

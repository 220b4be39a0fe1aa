"""The web app served by ``samizdat serve``: static assets, node status JSON, operator login (``/op``), the photo
preview (``/media/preview``).

The web side receives callables from :mod:`samizdat.node` (status document, channel seed, operator publishing,
each a service) and never imports the node: see docs/architecture.md.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from samizdat.web.app import PAGE_BYTES, POSTS_BYTES, Seed, SeedVersion, WebApp
from samizdat.web.media import PREVIEW_PATH, MayUpload, PreviewEndpoint
from samizdat.web.operator import LoginLimiter, OperatorAuthorize, OperatorEndpoint, OperatorPublish
from samizdat.web.operator_admins import OperatorAdmins

if TYPE_CHECKING:
    from websockets.asyncio.server import ServerConnection

    from samizdat.relay.shared import SharedLimits

OPERATOR_PATH = "/op"
#: Bytes of channel definitions the node gathers for the start page; the page keeps what fits (PAGE_BYTES in all).
SEED_BYTES = PAGE_BYTES
#: Bytes of posts the node gathers for the page (services.start_posts); the page keeps them all.
START_POSTS_BYTES = POSTS_BYTES


def web_parts(
    home: Path,
    pubkey: str,
    *,
    status: Callable[[], Awaitable[dict[str, Any]]],
    seed: Seed,
    seed_version: SeedVersion,
    operator: OperatorPublish,
    disguise: str = "",
    wipe: Callable[[], None] | None = None,
    present: Callable[[], None] | None = None,
    may_upload: MayUpload | None = None,
    authorize: OperatorAuthorize | None = None,
    limiter: LoginLimiter | None = None,
    posts: Seed | None = None,
    public_seed: Seed | None = None,
    public_posts: Seed | None = None,
    names: tuple[str, ...] = (),
    share: Callable[[bytes], bytes] | None = None,
    admins: OperatorAdmins | None = None,
    shared: Callable[[], SharedLimits | None] = lambda: None,
) -> tuple[WebApp, dict[str, Callable[[ServerConnection], Awaitable[None]]]]:
    """The HTTP handler and WebSocket routes that ``Node.serve`` gives the relay server (``disguise``: the web
    app's neutral name, ``[web] disguise``; ``wipe``: the operator's panic wipe of the node, offered when given;
    ``present``: an operator logged in; ``authorize``: the operator's photo upload authorizations;
    ``may_upload``: whether a key may send photos, for the preview, offered when given; ``limiter``: the operator
    login limiter, shared by the workers of ``serve --workers N`` (web/logins.py); ``posts``: the newest posts of
    the node's own and followed channels, carried in the page; ``public_seed``, ``public_posts``: what the page
    carries instead for a reader who may not know whose node this is (nothing that tells what it follows);
    ``names``: host names the operator's routes answer to besides the machine's own, ``[relay] host_names``;
    ``share``: a phone's vault share on plain-HTTP pages, services/phone_share.py; ``admins``: the operator's
    admin requests, web/operator_admins.py; ``shared``: the limits of ``serve --workers N``, for the previews)."""
    app = WebApp(status, seed=seed, seed_version=seed_version, posts=posts, public_seed=public_seed,
                 public_posts=public_posts, disguise=disguise, share=share)  # fmt: skip
    routes: dict[str, Callable[[ServerConnection], Awaitable[None]]] = {
        OPERATOR_PATH: OperatorEndpoint(
            home,
            pubkey,
            operator,
            wipe=wipe,
            present=present,
            authorize=authorize,
            limiter=limiter,
            names=names,
            admins=admins,
        )
    }
    if may_upload is not None:
        routes[PREVIEW_PATH] = PreviewEndpoint(home, may_upload, names=names, shared=shared)
    return app, routes

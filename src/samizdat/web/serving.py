"""The relay server of ``samizdat serve``, with the web app, the operator's endpoints and Blossom on its port.

:func:`relay_server` builds it from the node's :class:`~samizdat.services.context.Context` and the callables of
the parts that run beside it (the LAN mesh's peers, the carry quota's last pass); each web route gets the service
it needs as a callable, so nothing here holds a rule of its own (docs/architecture.md).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

from samizdat.core.event import Event
from samizdat.relay.limits import RelayInfo, RelayLimits
from samizdat.relay.negentropy import NegentropyService
from samizdat.relay.server import RelayServer
from samizdat.services import blobs, channels, deadman, phone_share, publishing, start_posts, status, uploaders
from samizdat.services.context import Context
from samizdat.services.operator_admins import answer as operator_admins
from samizdat.web import SEED_BYTES, START_POSTS_BYTES, web_parts
from samizdat.web.blossom import BlossomEndpoint
from samizdat.web.logins import ClusterLoginLimiter


def verify_in_thread(setting: bool | None, workers: int) -> bool:
    """Whether the relay checks signatures in a thread of its own (``[relay] verify_in_thread``): as set, or when
    this process may use at least two cores more than there are relay processes: each process's store writer
    thread already keeps part of a second core busy, and on two cores one worker with the thread took 10-25% fewer
    events a second than without it (docs/benchmarks.md, "Workers")."""
    if setting is not None:
        return setting
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    return cores > workers + 1


def relay_server(
    ctx: Context,
    *,
    peers: Callable[[], list[dict[str, Any]]],
    carry: dict[str, int | None],
    wipe: Callable[[], None] | None = None,
) -> RelayServer:
    """The node's relay, not started: ``peers()`` for the status document, ``carry`` the carry quota's last pass;
    ``wipe`` offers the operator the panic wipe."""
    server: RelayServer

    async def counts() -> tuple[int | None, int | None]:
        state = await server.status()
        return state.events, state.connections

    async def node_status() -> dict[str, Any]:
        return await status.document(ctx, connections=counts, peers=peers(), carry=carry)

    # The node's own new events held back from the LAN (relay/embargo.py) are left out of the page too, or a
    # device fetching / would read them there first; the page is rebuilt when their hold ends.
    def shown(events: list[Event]) -> list[dict[str, Any]]:
        embargo = server.embargo
        return [e.to_dict() for e in events if embargo is None or not embargo.holds(e.id)]

    async def seed() -> list[dict[str, Any]]:
        return shown(await channels.start_page_definitions(ctx, SEED_BYTES))

    async def posts() -> list[dict[str, Any]]:
        return shown(await start_posts.start_page_posts(ctx, START_POSTS_BYTES))

    # For readers who may not know whose node this is (anyone but this machine, without [node] publish_key):
    # nothing that tells which channels the node follows.
    async def public_seed() -> list[dict[str, Any]]:
        return shown(await channels.start_page_definitions(ctx, SEED_BYTES, follows=False))

    async def public_posts() -> list[dict[str, Any]]:
        return shown(await start_posts.start_page_posts(ctx, START_POSTS_BYTES, follows=False))

    async def seed_version() -> tuple[object, ...]:
        held = server.embargo.held_ids() if server.embargo is not None else frozenset()
        return (*await channels.start_page_version(ctx), held)

    async def operator(kind: int, content: str, tags: list[list[str]], created_at: int) -> Event:
        return await publishing.publish_as_operator(ctx, kind, content, tags, created_at)

    web_app, routes = web_parts(
        ctx.home,
        ctx.pubkey,
        status=node_status,
        seed=seed,
        seed_version=seed_version,
        posts=posts,
        public_seed=public_seed,
        public_posts=public_posts,
        operator=operator,
        disguise=ctx.config.disguise,
        wipe=wipe,
        present=lambda: deadman.note_presence(ctx.home),
        may_upload=lambda pubkey: blobs.may_upload(ctx, pubkey),
        authorize=lambda content, tags, created_at: uploaders.sign_authorization(ctx, content, tags, created_at),
        limiter=ClusterLoginLimiter(lambda: server.shared),  # with workers: one limiter for all (web/logins.py)
        shared=lambda: server.shared,  # ... and one preview budget per address, one preview at a time
        names=ctx.config.host_names,
        share=lambda asked: phone_share.answer(ctx.key, asked),
        admins=lambda asked: operator_admins(
            ctx,
            asked.channel,
            add=asked.add,
            role=asked.role,
            remove=asked.remove,
            since=asked.since,
            drop=asked.drop,
            preview=asked.preview,
            shown=asked.shown,
        ),  # the service `samizdat channel admins` uses
    )
    config = ctx.config
    limits = RelayLimits(events_per_second=config.events_per_second, events_burst=config.events_burst,
                         max_connections=config.max_connections, max_connections_per_ip=config.max_connections_per_ip,
                         trusted_proxies=config.trusted_proxies, host_names=config.host_names,
                         allowed_origins=config.allowed_origins)  # fmt: skip
    blossom = BlossomEndpoint(ctx, shared=lambda: server.shared)  # with workers: one budget for all of them
    info = RelayInfo(name=config.name, pubkey=ctx.pubkey, publish_pubkey=config.publish_key,
                     extra={"blossom": blossom.limits.document()})  # fmt: skip
    server = RelayServer(
        ctx.store, limits=limits, info=info, clock=ctx.clock, negentropy=NegentropyService(), http_handler=web_app,
        ws_routes=routes, request_handler=blossom, max_body=blobs.MAX_BLOB_BYTES,
        verify_in_thread=verify_in_thread(config.verify_in_thread, config.workers),
    )  # fmt: skip
    return server

"""The relay's own tests again, on a PostgreSQL store: NIP-01 conformance (test_server.py), NIP-77
(test_nip77.py) and interoperation with nostr-sdk (test_interop_nostr_sdk.py). The test functions are imported
from those modules; this module's fixtures (``relay``, ``sqlite_store``) put a PostgreSQL store under them, so each
runs unchanged against the other store."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from test_interop_nostr_sdk import (  # noqa: F401 - collected here again, on PostgreSQL
    sdk,
    test_addressable_events_by_d_tag,
    test_count,
    test_deletion_request,
    test_live_stream_gets_new_events,
    test_replaceable_kinds_keep_the_newest,
    test_tags_and_filters,
)
from test_nip77 import (  # noqa: F401
    start_relay,
    test_cache_is_refreshed_after_new_events_once_min_staleness_passed,
    test_full_reconciliation_finds_exactly_the_differences,
    test_small_and_empty_sets,
    test_the_filter_scopes_the_reconciled_set,
)
from test_server import (  # noqa: F401
    test_ephemeral_events_are_fanned_out_not_stored,
    test_pipelined_events_each_get_exactly_one_ok,
    test_publish_query_and_live_fan_out,
    test_replaceable_addressable_and_deletion,
    test_reusing_a_sub_id_replaces_and_close_stops,
    test_search_is_passed_to_the_store,
    test_stored_events_come_newest_first_then_eose,
)

from samizdat.relay.limits import RelayLimits
from samizdat.relay.server import RelayServer
from samizdat.store.postgres import PostgresStore
from samizdat.testing import running_relay


@pytest.fixture
async def relay(tmp_path: Path, limits: RelayLimits, postgres_url: str) -> AsyncIterator[RelayServer]:
    async with running_relay(tmp_path, limits=limits, store_url=postgres_url) as running:
        yield running.server


@pytest.fixture
async def sqlite_store(postgres_url: str) -> AsyncIterator[PostgresStore]:
    """The store test_nip77.py's relays run on: here a PostgreSQL one (the name is that module's)."""
    store = await PostgresStore.open(postgres_url)
    try:
        yield store
    finally:
        await store.close()

"""The relay client side: connections to relays (with transports and failover), NIP-77 sync, the outbox, netcheck.

May use ``store.base`` (the Store protocol) and ``store.local`` (outbox and route state); never ``relay``,
``mesh``, ``services`` or above. See docs/architecture.md.
"""

"""The event store (SQLite, one writer thread, NIP-01/09/40 rules), the local state (follows, outbox, sync
progress, peers, routes) and bundle files. Uses only ``core``. See docs/architecture.md.
"""

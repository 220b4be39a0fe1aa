"""The LAN mesh: mDNS discovery of other nodes and live peer links (NIP-77 reconciliation, then live pushes).

Builds on ``net`` (relay client, sync) and ``store.base``/``store.local``; never ``services`` or above. See
docs/architecture.md.
"""

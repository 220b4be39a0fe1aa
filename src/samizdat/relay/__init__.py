"""The relay: a WebSocket server driving the sans-I/O NIP-01 connection core (``relay/connection.py``), the
subscription index, limits, NIP-77 sessions and the HTTP side (NIP-11, the web handler given by the node).

Uses ``store`` and ``core``; never ``net``, ``mesh``, ``services`` or above. See docs/architecture.md.
"""

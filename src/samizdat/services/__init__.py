"""The use-cases of a node, each written once, for every face (the command line, the web app, ``serve``'s loops).

A service is a plain function (or, for the loops that keep state, a small class) given a
:class:`~samizdat.services.context.Context`: the node's data directory, configuration, key, stores, clock,
``sleep``, random source, and how to connect to a relay and store events. Services never import ``node``,
``web`` or ``cli``, open no server sockets and know nothing of Typer or HTTP; they return data that the faces
render. Where a rule lives here (who may post in a channel, which channels count as "mine", what a status
document holds), the command line and the web app cannot disagree about it.

Modules: ``channels`` (finding channels and posts, scopes, known relays), ``publishing`` (publish, the role
check, delivery budget, hand-off to a running ``serve``), ``sync`` (scopes and the background sync loop),
``upkeep`` (outbox, purge, carry and forwarding loops), ``status``, ``feed``, ``reachability``, ``peers``,
``instance`` (the one ``serve`` per data directory). See docs/architecture.md.
"""

"""Several worker processes acting as one: each portal is served by one process at a time.

::

    publishers ──▶ <p>.commands (topic) ──#──▶ <p>.commands (quorum, single active consumer)
                                                    │ one router active in the whole fleet
                                                    ▼
                          Router: parse, shard = jump_hash(portal) mod S, copy + sipline-shard
                                                    │ confirms + mandatory, then ack
                                                    ▼
                        <p>.shards (headers) ──sipline-shard=i──▶ <p>.shard.<i> (quorum, SAC)
                                                    │ one active consumer per shard
                                                    ▼
                   the process that owns shard i (rendezvous over the live members) runs the
                   ordinary Processor on it

    every process ──heartbeat──▶ <p>.fleet (fanout) ──▶ one exclusive queue per process

``shards`` holds the pure parts (which shard a portal is in, which process owns a shard),
``topology`` declares and checks the broker side, ``router`` moves commands into shards,
``membership`` tracks the live processes, ``consumers`` takes and gives shards, and
``member`` runs them together in one process.
"""

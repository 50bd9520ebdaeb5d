"""Dead-letter tooling behind ``sipline dlq``.

::

    model     DeadLetter: a view of one dead letter parsed from an AMQP message (pure)
    masking   secrets out of bodies and headers before anything is shown (pure)
    scrub     the conservative text masker behind it, for what does not parse (pure)
    filters   which dead letters an operator selected; durations like 30m, 2h, 7d (pure)
    summary   counts grouped by reason and type (pure)
    views     JSON-ready dicts for --json output (pure)
    jsonl     the export/import file format (pure)
    wire      whether a record can be published as it stands (pure)
    layouts   list output streamed as it is read: table, blocks, tsv, json
    broker    the one connection and channel a run owns; refuses an unprotected DLQ on 4.x
    reading   every ready message once, in bounded windows of consumers
    store     reading the DLQ without losing anything; removal = ack after the replacement
    migrate   moving a DLQ declared by an earlier version to its own delivery limit
    replay    copies back to the command exchange, with confirms, a cap and audit events
    transfer  export to and import from a JSON Lines file, purge
    render    rich tables for a terminal

Reading never removes: every dead letter is received once and held unacked, and whatever is
not removed is requeued (or returned by the broker when the channel closes).
"""

"""Dead-letter tooling behind ``sipline dlq``.

::

    model     DeadLetter: a view of one dead letter parsed from an AMQP message (pure)
    masking   passwords out of bodies and headers before anything is shown (pure)
    filters   which dead letters an operator selected; durations like 30m, 2h, 7d (pure)
    summary   counts grouped by reason and type (pure)
    views     JSON-ready dicts for --json output (pure)
    jsonl     the export/import file format (pure)
    broker    the one connection and channel a run owns
    store     reading the DLQ without losing anything; removal = ack after the replacement
    replay    copies back to the command exchange, with confirms, a cap and audit events
    transfer  export to and import from a JSON Lines file, purge
    render    rich tables for a terminal

Reading never removes: every dead letter is taken with ``basic.get`` and held unacked, and
whatever is not removed is requeued (or returned by the broker when the channel closes).
"""

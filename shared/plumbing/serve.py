"""Run a service's app under uvicorn with settings that fit (used by each service's __main__)."""

from __future__ import annotations

import gc
import logging

import uvicorn


def serve(app, settings) -> None:
    logging.basicConfig(
        level=settings.log_level.upper(),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    logging.getLogger("aiokafka").setLevel(logging.WARNING)
    logging.getLogger("parcours.faststream").setLevel(logging.WARNING)
    # Everything imported so far lives as long as the process: out of the collector's sight, so
    # that a full collection scans only what requests and batches create (it took 50 ms and more
    # with the frameworks' objects in it, a tail latency of its own).
    gc.collect()
    gc.freeze()
    # A consumed batch keeps thousands of objects alive at once (records, events, rows); with the
    # default threshold (700) the young generation was collected several times a batch, each time
    # promoting the batch's objects to be scanned again: about 1.4 µs an event of 20. Collections
    # still come, 30 times less often, over objects that are mostly gone by then.
    _, older, oldest = gc.get_threshold()
    gc.set_threshold(20_000, older, oldest)
    uvicorn.run(
        app,
        host=settings.host,
        port=settings.port,
        log_level="warning",
        access_log=False,
        # SIGTERM: stop accepting, finish in-flight requests, then the lifespan stops consumers.
        timeout_graceful_shutdown=20,
    )

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
    uvicorn.run(
        app,
        host=settings.host,
        port=settings.port,
        log_level="warning",
        access_log=False,
        # SIGTERM: stop accepting, finish in-flight requests, then the lifespan stops consumers.
        timeout_graceful_shutdown=20,
    )

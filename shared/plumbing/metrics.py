"""Metrics of the delivery plumbing, registered on the service's own registry."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, disable_created_metrics

# The `_created` series double every counter for little use here.
disable_created_metrics()

LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60)


class PlumbingMetrics:
    """Label values come from small fixed sets: topic, event type, result, route template."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.registry = registry
        self._consumer_metrics(registry)
        self._outbox_metrics(registry)
        self._runtime_metrics(registry)
        self._http_metrics(registry)

    def _consumer_metrics(self, registry: CollectorRegistry) -> None:
        self.events_consumed = Counter(
            "parcours_events_consumed_total",
            "Events consumed, by topic, event type and result (applied, duplicate, dead_lettered, retried)",
            ["topic", "event_type", "result"],
            registry=registry,
        )
        self.dead_lettered = Counter(
            "parcours_dead_lettered_total",
            "Messages set aside to the dead-letter topic, by source topic and reason",
            ["topic", "reason"],
            registry=registry,
        )
        self.batch_seconds = Histogram(
            "parcours_consumer_batch_duration_seconds",
            "Time to apply one consumed batch in one database transaction",
            buckets=LATENCY_BUCKETS,
            registry=registry,
        )
        self.end_to_end_seconds = Histogram(
            "parcours_event_end_to_end_latency_seconds",
            "Time from an event's recorded_at to its application here",
            ["topic"],
            buckets=LATENCY_BUCKETS,
            registry=registry,
        )
        self.commit_failures = Counter(
            "parcours_consumer_commit_failures_total",
            "Offset commits that failed (records are redelivered and dropped by the inbox)",
            registry=registry,
        )
        self.consumer_lag = Gauge(
            "parcours_consumer_lag",
            "Messages not yet committed by this service's consumer group, by topic and partition",
            ["topic", "partition"],
            registry=registry,
        )
        self.last_processed = Gauge(
            "parcours_consumer_last_processed_timestamp_seconds",
            "Unix time of the last batch committed, by topic and partition",
            ["topic", "partition"],
            registry=registry,
        )
        self.rebalances = Counter(
            "parcours_consumer_rebalances_total",
            "Partition assignments and revocations seen by the consumer",
            ["kind"],
            registry=registry,
        )
        self.consumer_assigned_partitions = Gauge(
            "parcours_consumer_assigned_partitions", "Partitions currently assigned", registry=registry
        )

    def _outbox_metrics(self, registry: CollectorRegistry) -> None:
        self.outbox_published = Counter(
            "parcours_outbox_published_total", "Outbox rows published to Kafka", registry=registry
        )
        self.outbox_publish_failures = Counter(
            "parcours_outbox_publish_failures_total",
            "Relay rounds that failed and will be retried",
            registry=registry,
        )
        self.outbox_unsendable = Counter(
            "parcours_outbox_unsendable_total",
            "Outbox rows set aside because the broker can never take them (too large)",
            ["topic"],
            registry=registry,
        )

    def _runtime_metrics(self, registry: CollectorRegistry) -> None:
        self.topics_recreated = Counter(
            "parcours_topics_recreated_total",
            "Topics found missing on the broker and created again (a broker that lost its data)",
            registry=registry,
        )
        self.periodic_failures = Counter(
            "parcours_periodic_task_failures_total",
            "Runs of a periodic task that failed (contact retention, topic check, outbox backlog, ...)",
            ["task"],
            registry=registry,
        )
        self.outbox_backlog = Gauge(
            "parcours_outbox_backlog", "Outbox rows not yet published", registry=registry
        )
        self.outbox_oldest_seconds = Gauge(
            "parcours_outbox_oldest_unpublished_age_seconds",
            "Age of the oldest unpublished outbox row",
            registry=registry,
        )

    def _http_metrics(self, registry: CollectorRegistry) -> None:
        self.http_requests = Counter(
            "parcours_http_requests_total",
            "HTTP requests by method, route template and status code",
            ["method", "route", "status"],
            registry=registry,
        )
        self.http_seconds = Histogram(
            "parcours_http_request_duration_seconds",
            "HTTP request latency by method and route template",
            ["method", "route"],
            buckets=LATENCY_BUCKETS,
            registry=registry,
        )

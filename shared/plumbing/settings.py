"""Settings common to every service, read from environment variables with working defaults."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class ServiceSettings(BaseSettings):
    """Common settings; each service subclasses it and names its own database and port variables."""

    model_config = SettingsConfigDict(env_prefix="PARCOURS_", extra="ignore", populate_by_name=True)

    service_name: str = "service"
    database_url: str = "postgresql://postgres@127.0.0.1:5432/postgres"
    host: str = Field("127.0.0.1", description="Address the HTTP server listens on")
    port: int = 8000
    kafka_bootstrap_servers: str = Field(
        "127.0.0.1:9092", description="Kafka bootstrap servers, comma-separated"
    )
    # Who the service is to Kafka. The defaults are the embedded broker's (no authentication);
    # docker-compose.yml gives each service its own SCRAM user, whose ACLs let it write only its own
    # topics (deploy/kafka/acls.txt). Every client is built with them (shared/plumbing/kafka.py).
    kafka_security_protocol: Literal["PLAINTEXT", "SASL_PLAINTEXT", "SASL_SSL", "SSL"] = "PLAINTEXT"
    kafka_sasl_mechanism: Literal["SCRAM-SHA-512", "SCRAM-SHA-256", "PLAIN"] = "SCRAM-SHA-512"
    kafka_sasl_username: str = ""
    # A plain string, as the database URLs are, so that it reads back as set; kept out of repr().
    kafka_sasl_password: str = Field("", repr=False)
    kafka_ssl_cafile: str = Field("", description="CA bundle for SSL and SASL_SSL; empty: the system's")
    # The pages' sessions (staff, managers, centres): how long they last, and whether their cookie
    # needs HTTPS (off for the plain-HTTP local stack; docker-compose.yml turns it on behind TLS).
    staff_session_idle_minutes: float = Field(60, gt=0, le=24 * 60,
                                              validation_alias="PARCOURS_STAFF_SESSION_IDLE_MINUTES")
    staff_session_hours: float = Field(12, gt=0, le=7 * 24, validation_alias="PARCOURS_STAFF_SESSION_HOURS")
    staff_cookie_secure: bool = Field(False, validation_alias="PARCOURS_STAFF_COOKIE_SECURE")
    # Where a person's browser reaches each service's pages: a centre's space spans intake (its
    # applications) and progress (its learners), and each page links to the others.
    intake_page_url: str = Field("http://127.0.0.1:8001", validation_alias="PARCOURS_INTAKE_PAGE_URL")
    progress_page_url: str = Field("http://127.0.0.1:8002", validation_alias="PARCOURS_PROGRESS_PAGE_URL")
    outcomes_page_url: str = Field("http://127.0.0.1:8003", validation_alias="PARCOURS_OUTCOMES_PAGE_URL")
    topic_partitions: int = Field(12, ge=1, le=1000)
    topic_replication_factor: int = Field(1, ge=1, le=10)
    # A broker that loses its data (the embedded one keeps nothing) comes back without topics and
    # still acknowledges writes to them: each service checks this often and re-creates them.
    topic_check_seconds: float = Field(5.0, gt=0, le=3600, description="How often the topics' existence is checked")
    # Consumption: records per batch handed to one database transaction.
    consumer_batch_size: int = Field(500, ge=1, le=10_000)
    # Batches applied at the same time, each in its own transaction and connection, when they
    # share no Kafka key (learner); 1 applies one batch after the other.
    consumer_concurrency: int = Field(2, ge=1, le=16)
    # How long a poll waits for records; FastStream's batch subscriber also sleeps this long after
    # a poll that found none, so it adds up to twice this to a quiet pipeline's latency per hop.
    consumer_batch_timeout_ms: int = Field(20, ge=1, le=10_000)
    # How long the broker may hold a fetch while waiting for data. The embedded broker holds it
    # this long even when a record arrives meanwhile (about 120 ms a hop with the client's default
    # of 500; measured by bench/fetch_latency.py), so it is every hop's latency floor.
    consumer_fetch_max_wait_ms: int = Field(20, ge=1, le=10_000)
    # At rest the fetch wait and the poll lengthen, doubling from the values above up to these, once
    # nothing has come for `quiet_after_seconds`; the first record brings them back. The first
    # event after a quiet spell may wait this long on the embedded broker (Apache Kafka answers a
    # fetch as soon as data arrives).
    consumer_idle_fetch_wait_ms: int = Field(2000, ge=1, le=10_000)
    consumer_idle_batch_timeout_ms: int = Field(500, ge=1, le=10_000)
    quiet_after_seconds: float = Field(2.0, ge=0, le=3600)
    # Short enough that a dead instance's partitions move on within seconds; heartbeats run in the
    # background, so a batch waiting for its database does not lose the group.
    consumer_session_timeout_ms: int = Field(6_000, ge=1_000)
    # Messages larger than this are dead-lettered unread.
    max_message_bytes: int = Field(1_000_000, ge=1_024)
    # Outbox relay: rows per publish batch, and the pause when there was nothing to send.
    relay_batch_size: int = Field(1_000, ge=1, le=50_000)
    relay_idle_seconds: float = Field(0.05, gt=0, le=10)
    # ...lengthening at rest up to this (the relay's own process's commits wake it at once).
    relay_idle_max_seconds: float = Field(1.0, gt=0, le=60)
    relay_send_timeout_seconds: float = Field(30.0, gt=0)
    # The shortest time between two relay rounds: what one event may wait so that rounds carry
    # several rows under a stream of small commits.
    relay_min_interval_seconds: float = Field(0.005, ge=0, le=1)
    # How often, at most, the relay asks the broker whether its topics still exist before a batch
    # (a broker restarted empty acknowledges writes to topics it lost); at once after a Kafka error.
    relay_topic_check_seconds: float = Field(1.0, ge=0, le=60)
    # The business gauges (follow-ups by state, key figures of the year) are counted in SQL this often;
    # they move with the days and the alerts on them wait an hour.
    business_metrics_seconds: float = Field(60.0, gt=0, le=3600)
    database_pool_size: int = Field(10, ge=1, le=200)
    retry_max_seconds: float = Field(5.0, gt=0, description="Upper bound of the retry backoff")
    log_level: str = "INFO"
    auth_required: bool = Field(True, description="Require an API key on every route but health and metrics")

    consumer_group_suffix: str = Field(
        "", pattern=r"^[A-Za-z0-9._-]*$", max_length=60,
        description="Appended to the consumer group id (parcours-<service>): separate groups on one cluster")

    @model_validator(mode="after")
    def _sasl_needs_a_user(self) -> ServiceSettings:
        # Refused at start-up, not at the first connection: a missing password would otherwise show
        # only as a Kafka start-up retried forever.
        if self.kafka_security_protocol.startswith("SASL_") and not (
                self.kafka_sasl_username and self.kafka_sasl_password):
            raise ValueError(f"PARCOURS_KAFKA_SECURITY_PROTOCOL={self.kafka_security_protocol} needs "
                             "PARCOURS_KAFKA_SASL_USERNAME and PARCOURS_KAFKA_SASL_PASSWORD")
        return self

    @property
    def consumer_group(self) -> str:
        return f"parcours-{self.service_name}{self.consumer_group_suffix}"

"""Progress settings (environment variables)."""

from pydantic import Field

from shared.plumbing.settings import ServiceSettings


class ProgressSettings(ServiceSettings):
    service_name: str = "progress"
    database_url: str = Field(
        "postgresql://postgres@127.0.0.1:5432/progress", validation_alias="PARCOURS_PROGRESS_DATABASE_URL"
    )
    port: int = Field(8002, validation_alias="PARCOURS_PROGRESS_PORT")
    max_body_bytes: int = Field(2_000_000, validation_alias="PARCOURS_PROGRESS_MAX_BODY_BYTES")
    # How often the xAPI statements waiting for something that may have arrived are tried again
    # (each of them less often as it keeps waiting: statements.RETRIED, migration 0009).
    xapi_retry_seconds: float = Field(60, gt=0, le=3600, validation_alias="PARCOURS_XAPI_RETRY_SECONDS")

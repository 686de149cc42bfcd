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

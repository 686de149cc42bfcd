"""Outcomes settings (environment variables)."""

from pydantic import Field

from shared.plumbing.settings import ServiceSettings


class OutcomesSettings(ServiceSettings):
    service_name: str = "outcomes"
    database_url: str = Field(
        "postgresql://postgres@127.0.0.1:5432/outcomes", validation_alias="PARCOURS_OUTCOMES_DATABASE_URL"
    )
    port: int = Field(8003, validation_alias="PARCOURS_OUTCOMES_PORT")
    max_body_bytes: int = Field(2_000_000, validation_alias="PARCOURS_OUTCOMES_MAX_BODY_BYTES")
    intake_url: str = Field("http://127.0.0.1:8001", validation_alias="PARCOURS_INTAKE_URL",
                            description="Where the staff page fetches contact details, at the moment it shows them")
    # The follow-up window around the observation date (exit + 6 months), in months.
    window_months_before: int = Field(1, ge=0, le=6, validation_alias="PARCOURS_FOLLOWUP_WINDOW_BEFORE")
    window_months_after: int = Field(2, ge=0, le=12, validation_alias="PARCOURS_FOLLOWUP_WINDOW_AFTER")

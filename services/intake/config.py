"""Intake settings (environment variables)."""

from pydantic import Field

from shared.plumbing.settings import ServiceSettings


class IntakeSettings(ServiceSettings):
    service_name: str = "intake"
    database_url: str = Field(
        "postgresql://postgres@127.0.0.1:5432/intake", validation_alias="PARCOURS_INTAKE_DATABASE_URL"
    )
    port: int = Field(8001, validation_alias="PARCOURS_INTAKE_PORT")
    contact_retention_months: int = Field(
        24, ge=1, le=120, validation_alias="PARCOURS_CONTACT_RETENTION_MONTHS",
        description="Contact details are purged this many months after the learner's last follow-up closed")
    max_body_bytes: int = Field(2_000_000, validation_alias="PARCOURS_INTAKE_MAX_BODY_BYTES")

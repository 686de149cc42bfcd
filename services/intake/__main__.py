"""`python -m services.intake`: run the intake service."""

from services.intake.app import create_app
from services.intake.config import IntakeSettings
from shared.plumbing.serve import serve

if __name__ == "__main__":
    settings = IntakeSettings()
    serve(create_app(settings), settings)

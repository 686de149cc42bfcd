"""`python -m services.outcomes`: run the outcomes service."""

from services.outcomes.app import create_app
from services.outcomes.config import OutcomesSettings
from shared.plumbing.serve import serve

if __name__ == "__main__":
    settings = OutcomesSettings()
    serve(create_app(settings), settings)

"""`python -m services.progress`: run the progress service."""

from services.progress.app import create_app
from services.progress.config import ProgressSettings
from shared.plumbing.serve import serve

if __name__ == "__main__":
    settings = ProgressSettings()
    serve(create_app(settings), settings)

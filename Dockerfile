# Stackyard's container image. docs/deploying.md ("Container image") tells how to configure and run it.
#
#   docker build -t stackyard .
#   docker run -p 8000:8000 stackyard      # serves examples/pipelines at http://localhost:8000
#
# Without tokens the server listens on 0.0.0.0 in open mode, which it restricts off loopback: the example pipelines
# are listed, read and run, while deploying, changing, removing and feedback reads answer 403 insecure-open-mode.
# The image sets no token and never STACKYARD_ALLOW_INSECURE; to manage pipelines, mount a tokens file
# (STACKYARD_TOKENS_FILE) made with `docker run --rm stackyard token create NAME --scopes admin`.
#
# BASE_IMAGE: any image whose `python3` is Python 3.11 or newer: an official python:3.1x-slim image, or Debian with
# python3 and python3-venv. Both stages use it, so the interpreter the venv links to is there in the final stage.
ARG BASE_IMAGE=python:3.11-slim-bookworm

FROM ${BASE_IMAGE} AS builder
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1
# No compilers, here or below: every dependency comes as a wheel (PostgreSQL's driver as psycopg[binary]).
RUN python3 -m venv /opt/venv
WORKDIR /src
# The dependencies first, at the versions the tests passed with, in a layer that a change to the code or the README
# alone reuses: an empty package and README stand in for Stackyard's until they are copied.
COPY pyproject.toml constraints.txt ./
RUN mkdir -p src/stackyard \
    && touch README.md src/stackyard/__init__.py \
    && /opt/venv/bin/pip install --constraint constraints.txt '.[postgres]'
COPY README.md ./
COPY src ./src
RUN /opt/venv/bin/pip install --no-deps --force-reinstall .

FROM ${BASE_IMAGE}
# A fixed, unprivileged user: a file mounted in for it (tokens, pipelines) is made readable to UID 10001.
RUN groupadd --gid 10001 stackyard \
    && useradd --uid 10001 --gid 10001 --create-home --shell /usr/sbin/nologin stackyard \
    && mkdir /data \
    && chown stackyard:stackyard /data
COPY --from=builder /opt/venv /opt/venv
# The start-up pipelines; mount a folder of your own over /pipelines (read-only will do: Stackyard never writes
# its start-up files). Not declared a VOLUME, so an image built FROM this one can COPY its pipelines there.
COPY examples/pipelines /pipelines
# No token, key or password is set here, nor STACKYARD_ALLOW_INSECURE: give those to the container when it runs.
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    HAYSTACK_TELEMETRY_ENABLED=false \
    STACKYARD_HOST=0.0.0.0 \
    STACKYARD_PORT=8000 \
    STACKYARD_PIPELINE_PATHS=/pipelines \
    STACKYARD_STORE_URL=sqlite:////data/stackyard.db
# The SQLite store: what the API acknowledged survives a new container when /data is a named volume.
VOLUME ["/data"]
WORKDIR /data
USER 10001:10001
EXPOSE 8000
# On SIGTERM the server stops taking requests and lets runs in flight finish, for up to 30 s, then exits 0. Give
# it that long: `docker stop --time 35` (Docker's default, 10 s, ends longer runs with SIGKILL).
STOPSIGNAL SIGTERM
# Liveness only (/healthz answers while the process serves); /readyz also says whether the store can be read.
HEALTHCHECK --interval=10s --timeout=5s --start-period=30s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:' + os.environ.get('STACKYARD_PORT', '8000') + '/healthz', timeout=4)"]
# The server is PID 1 and needs no init: it handles SIGTERM and SIGINT itself, and its run workers' processes are
# reaped by their fork server. Other commands work too: `docker run --rm stackyard token create NAME`.
ENTRYPOINT ["stackyard"]
CMD ["serve"]

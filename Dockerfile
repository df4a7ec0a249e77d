# syntax=docker/dockerfile:1
#
# The telehealth server image. Build and run:
#   docker build -t telehealth .
#   docker run --rm -p 8080:8080 -v telehealth-data:/data telehealth
# With no TELEHEALTH_DATABASE_URL the server uses an SQLite file in /data and
# migrates it itself; on PostgreSQL run `telehealth db upgrade` first (see
# docker-compose.yml and docs/operations.md).
#
# The project is installed the way the README installs it: an editable install
# (`pip install -e .`) of the source tree in /app, because the program finds
# migrations/, alembic.ini and web/ beside its package.

ARG PYTHON_IMAGE=python:3.11-slim-bookworm
ARG NODE_IMAGE=node:20-bookworm-slim

# --- web: the browser library (web/package.json), exactly as its lockfile pins it ----
FROM ${NODE_IMAGE} AS web

WORKDIR /web
COPY web/package.json web/package-lock.json ./
RUN npm ci --no-audit --no-fund \
    && test -f node_modules/socket.io-client/dist/socket.io.esm.min.js

# --- builder: a virtualenv in /opt/venv with the project and its dependencies -----
FROM ${PYTHON_IMAGE} AS builder

ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1 \
    PYTHONDONTWRITEBYTECODE=1

RUN python -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH

WORKDIR /app

# Dependencies first, from pyproject.toml alone, so a code change reuses this layer.
# (Every dependency ships binary wheels for amd64 and arm64; aiortc's codecs come
# bundled in the PyAV wheel, so no compiler and no system libraries are needed.)
COPY pyproject.toml README.md ./
RUN mkdir telehealth \
    && touch telehealth/__init__.py \
    && pip install -e . \
    && rm -rf telehealth telehealth.egg-info

# Then the project itself.
COPY . .
RUN pip install --no-deps -e . \
    && python -m compileall -q telehealth migrations

# The socket.io client's built files only (the server serves them at /static/vendor/),
# at the path the server looks for them; the rest of node_modules stays in the web stage.
COPY --from=web /web/node_modules/socket.io-client/dist /app/web/node_modules/socket.io-client/dist

# --- runtime -------------------------------------------------------------------------
FROM ${PYTHON_IMAGE} AS runtime

LABEL org.opencontainers.image.title="telehealth" \
      org.opencontainers.image.description="Telemedicine server for a hub-and-spoke health network" \
      org.opencontainers.image.licenses="AGPL-3.0-or-later"

ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    TELEHEALTH_DATA_DIR=/data \
    TELEHEALTH_HOST=0.0.0.0 \
    TELEHEALTH_PORT=8080

# A fixed, unprivileged user; /data is its only writable place.
RUN groupadd --system --gid 10001 telehealth \
    && useradd --system --uid 10001 --gid telehealth --home-dir /data --no-create-home \
       --shell /usr/sbin/nologin telehealth \
    && mkdir /data \
    && chown telehealth:telehealth /data \
    && chmod 0750 /data

# Same paths as in the builder: the venv's scripts and the editable install point there.
COPY --from=builder /opt/venv /opt/venv
COPY --from=builder /app /app

WORKDIR /app
USER telehealth
VOLUME ["/data"]
EXPOSE 8080

# No curl in the slim image: ask /healthz with the standard library.
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/healthz' % os.environ.get('TELEHEALTH_PORT', '8080'), timeout=4)"]

# Exec form: the server is PID 1 and receives SIGTERM from `docker stop` itself.
CMD ["telehealth", "serve"]

# syntax=docker/dockerfile:1
# Kassa's production image (docs/operations.md, "Containers"). Three stages:
#   assets  - the front-end packages, from package-lock.json (npm ci), copied where the app serves them;
#   build   - the Python virtualenv and the compiled translations;
#   runtime - python:slim with the virtualenv and the source tree: no compiler, no npm, no pip cache,
#             running as an unprivileged user over files it cannot change.
# Every process runs from this one image; compose.yaml picks the command (kassa serve, worker, cron, ...).

ARG PYTHON_IMAGE=python:3.11-slim-bookworm

FROM node:22-bookworm-slim AS assets
WORKDIR /src
COPY package.json package-lock.json ./
# --omit=dev: axe-core is a test tool, never served.
RUN npm ci --omit=dev --no-audit --no-fund --loglevel=error \
 && mkdir -p /out/static/vendor \
 && cp node_modules/htmx.org/dist/htmx.min.js /out/static/vendor/htmx.min.js

FROM ${PYTHON_IMAGE} AS build
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1 PYTHONDONTWRITEBYTECODE=1
WORKDIR /app
COPY . .
COPY --from=assets /out/static/vendor/ static/vendor/
# Editable: the app reads templates/, static/, migrations/ and translations/ beside its packages (as
# `make install` runs it), so /app is copied to the same path below.
RUN python -m venv /opt/venv \
 && /opt/venv/bin/pip install --no-compile -e . \
 && /opt/venv/bin/pybabel compile -d translations \
 && rm -rf /root/.cache

FROM ${PYTHON_IMAGE} AS runtime
# postgresql-client: pg_dump / pg_restore for `kassa backup verify`. Nothing here builds anything.
RUN apt-get update \
 && apt-get install -y --no-install-recommends postgresql-client \
 && rm -rf /var/lib/apt/lists/* \
 && groupadd --system --gid 10001 kassa \
 && useradd --system --uid 10001 --gid kassa --home-dir /nonexistent --no-create-home \
      --shell /usr/sbin/nologin kassa
COPY --from=build /opt/venv /opt/venv
COPY --from=build /app /app
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    KASSA_ENV=production
WORKDIR /app
# Owned by root, read by kassa: the running processes cannot change their own code.
USER kassa:kassa
EXPOSE 8000
HEALTHCHECK --interval=10s --timeout=5s --start-period=20s --retries=3 \
  CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=4)"]
CMD ["kassa", "serve", "--bind", "0.0.0.0:8000"]

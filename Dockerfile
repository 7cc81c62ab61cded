# The sevflow image: one image for both processes of the production shape (docs/DEPLOY.md).
#   docker build -t sevflow:0.1.0 .
#   docker run ... sevflow:0.1.0 worker     # a worker on the task queue
#   docker run ... sevflow:0.1.0 api        # the HTTP API on :8080 (needs SEVFLOW_API_TOKEN)
# Nothing secret is baked in: tokens, passwords and Temporal credentials come from the environment (or
# mounted files) at run time. The embedded dev server (the `embedded` extra) is left out: the image
# talks to a Temporal cluster or Temporal Cloud through the standard TEMPORAL_* variables.

# ---------------------------------------------------------------------------------------- build
FROM python:3.11.14-slim-trixie AS build

ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1 \
    PYTHONDONTWRITEBYTECODE=1

WORKDIR /src
# Only what the package is built from (see .dockerignore): the project file, the readme and licence
# file it names, and the five packages of [tool.setuptools.packages.find] (with the migrations as
# package data).
COPY pyproject.toml README.md LICENSE ./
COPY sevflow ./sevflow
COPY activities ./activities
COPY workflows ./workflows
COPY worker ./worker
COPY starter ./starter

# A non-editable install into its own virtualenv, copied whole into the runtime stage.
RUN python -m venv /opt/sevflow \
    && /opt/sevflow/bin/pip install --no-cache-dir /src

# -------------------------------------------------------------------------------------- runtime
FROM python:3.11.14-slim-trixie

LABEL org.opencontainers.image.title="sevflow" \
      org.opencontainers.image.description="Incident lifecycle on durable Temporal workflows" \
      org.opencontainers.image.licenses="Apache-2.0"

# A system user with a fixed uid, so volume and Kubernetes securityContext settings can name it.
RUN groupadd --system --gid 10001 sevflow \
    && useradd --system --uid 10001 --gid sevflow --create-home --home-dir /home/sevflow \
       --shell /usr/sbin/nologin sevflow

COPY --from=build /opt/sevflow /opt/sevflow

# The API listens on every interface inside the container; it still refuses to start without
# SEVFLOW_API_TOKEN and a token for every alert source (starter/api.py), so nothing is served open.
ENV PATH=/opt/sevflow/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    SEVFLOW_HTTP_HOST=0.0.0.0 \
    SEVFLOW_HTTP_PORT=8080

WORKDIR /home/sevflow
# Numeric, so Kubernetes can verify runAsNonRoot without reading /etc/passwd.
USER 10001:10001

EXPOSE 8080

# Liveness of the API (`sevflow api`): GET /healthz needs no token. The worker serves no HTTP, so its
# compose service and Kubernetes pods turn this check off (docs/DEPLOY.md).
HEALTHCHECK --interval=15s --timeout=5s --start-period=30s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/healthz' % os.environ.get('SEVFLOW_HTTP_PORT', '8080'), timeout=4)"]

ENTRYPOINT ["sevflow"]
CMD ["api"]

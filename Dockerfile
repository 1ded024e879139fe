# The TimeTracker ES service. It needs DATABASE_URL (PostgreSQL 18, as in docker-compose.yml)
# and REDIS_URL: the embedded PostgreSQL and Redis of `timetracker` on a laptop are an extra
# (`[embedded]`) that this image leaves out.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /app
COPY pyproject.toml README.md ./
# Every folder of the package (pyproject.toml's package-dir mapping).
COPY domain/ domain/
COPY commands/ commands/
COPY eventlog/ eventlog/
COPY backups/ backups/
COPY imports/ imports/
COPY webhooks/ webhooks/
COPY projections/ projections/
COPY http/ http/
COPY ops/ ops/
RUN pip install . \
    && useradd --system --home-dir /data --create-home timetracker \
    && mkdir /backups && chown timetracker /backups

USER timetracker
WORKDIR /data
# BACKUP_DIR is a volume in docker-compose.yml: archives outlive the container.
ENV HOST=0.0.0.0 \
    PORT=8080 \
    TIMETRACKER_DATA_DIR=/data/.timetracker \
    BACKUP_DIR=/backups
VOLUME ["/backups"]
EXPOSE 8080
# serve stops gracefully on SIGTERM (docker stop).
CMD ["timetracker", "serve"]

# The TimeTracker ES service. Configure it with DATABASE_URL and REDIS_URL (see README);
# without them it falls back to embedded PostgreSQL and Redis under /data.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /app
COPY pyproject.toml README.md ./
COPY domain/ domain/
COPY commands/ commands/
COPY projections/ projections/
COPY http/ http/
COPY ops/ ops/
RUN pip install . \
    && useradd --system --home-dir /data --create-home timetracker

USER timetracker
WORKDIR /data
ENV HOST=0.0.0.0 \
    PORT=8080 \
    TIMETRACKER_DATA_DIR=/data/.timetracker
EXPOSE 8080
# serve stops gracefully on SIGTERM (docker stop).
CMD ["timetracker", "serve"]

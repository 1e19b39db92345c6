# syntax=docker/dockerfile:1
# The infiniti-sync image: a short-lived, stateless runner (docs/guides/scheduling.md, The container image).
#   docker build -t infiniti-sync:0.1.0 .
#   docker run --rm --read-only --tmpfs /tmp -v "$PWD:/project:ro" -e INFINITI_SYNC_STATE_URL \
#     infiniti-sync:0.1.0 run --all --due -q

# Build: the wheel of this repository (nothing of the build stage reaches the image but the wheel).
FROM python:3.11-slim AS build
WORKDIR /src
COPY pyproject.toml README.md ./
COPY runner ./runner
RUN python -m pip wheel --no-cache-dir --no-deps --wheel-dir /wheels .

# Run: the wheel in a virtual environment, with the PostgreSQL driver for a shared state and the time zone
# database for `timezone:` (slim images may have none), as a user that owns nothing.
FROM python:3.11-slim
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PATH=/opt/infiniti-sync/bin:$PATH \
    TMPDIR=/tmp \
    INFINITI_SYNC_CACHE=
RUN --mount=type=bind,from=build,source=/wheels,target=/wheels \
    python -m venv /opt/infiniti-sync \
    && /opt/infiniti-sync/bin/pip install --no-cache-dir "$(echo /wheels/infiniti_sync-*.whl)[postgres,metrics]" tzdata \
    && useradd --system --uid 10001 --user-group --no-create-home --home-dir /nonexistent \
       --shell /usr/sbin/nologin infiniti-sync
USER 10001:10001
WORKDIR /project
ENTRYPOINT ["infiniti-sync"]
CMD ["--help"]

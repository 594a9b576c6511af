# BotMaker and its keyring proxy: one image, two commands.
#
#   docker build -t botmaker .                          # base and wheels from the registries
#   docker build -t botmaker --network none \
#       --build-arg BASE_IMAGE=botmaker-python:3.11-slim-bookworm \
#       --build-arg OFFLINE=1 .                         # local base (scripts/build-base-image)
#                                                       # and wheels/ (see wheels/README.md)
#   docker run ... botmaker serve                       # the API and dashboard (the default)
#   docker run ... botmaker keyring serve               # the keyring proxy
#
# The image runs as the unprivileged user botmaker (10001:10001). The keyring runs so.
# BotMaker itself needs the Docker socket, and access to that socket is root-equivalent
# (whoever can create containers can mount the host's / into one); it also gives each
# bot's folders to that bot's own uid, so compose.yaml runs `botmaker serve` as root.
# No HEALTHCHECK: GET /health answers cheaply if an orchestrator wants one.

ARG BASE_IMAGE=python:3.11-slim-bookworm

FROM ${BASE_IMAGE} AS builder
# OFFLINE=1: install only from the wheels in wheels/ (no index; build with --network none).
ARG OFFLINE=0
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1 PIP_ROOT_USER_ACTION=ignore
COPY wheels/ /wheels/
COPY requirements-runtime.lock /build/
RUN set -eu; \
    if [ "$OFFLINE" = 1 ]; then set -- --no-index --find-links /wheels; else set --; fi; \
    python3 -m venv /opt/botmaker; \
    /opt/botmaker/bin/pip install -q "$@" --require-hashes --only-binary=:all: \
        -r /build/requirements-runtime.lock
COPY pyproject.toml README.md /build/
COPY src/ /build/src/
RUN set -eu; \
    if [ "$OFFLINE" = 1 ]; then set -- --no-index --find-links /wheels; else set --; fi; \
    /opt/botmaker/bin/pip install -q "$@" --no-deps /build; \
    /opt/botmaker/bin/pip uninstall -q -y pip setuptools; \
    /opt/botmaker/bin/python -m compileall -q /opt/botmaker/lib >/dev/null || true

FROM ${BASE_IMAGE}
LABEL org.opencontainers.image.title="botmaker" \
      org.opencontainers.image.description="BotMaker (botmaker serve) and its keyring proxy (botmaker keyring serve)" \
      org.opencontainers.image.licenses="MIT"
RUN groupadd --system --gid 10001 botmaker \
    && useradd --system --uid 10001 --gid 10001 --home-dir /nonexistent --no-create-home \
        --shell /usr/sbin/nologin botmaker
COPY --from=builder /opt/botmaker /opt/botmaker
ENV PATH=/opt/botmaker/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    BOTMAKER_DATA_DIR=/var/lib/botmaker/data \
    BOTMAKER_SECRETS_DIR=/var/lib/botmaker/secrets
WORKDIR /var/lib/botmaker
USER 10001:10001
EXPOSE 7100
ENTRYPOINT ["botmaker"]
CMD ["serve"]

# hookwise's container image. `make image` builds it here (docs/deploy.md says how elsewhere).
#
# The image installs hookwise and its dependencies from a wheelhouse made on the host
# (`make wheelhouse`: `pip wheel` for hookwise, binary wheels for the base's Python) with
# `pip install --no-index --find-links`: the build reaches no package registry, so it is
# reproducible and works where a build step cannot verify the registries' TLS.
#
# BASE is any Debian-like image with python3 (and its venv module): the default below for
# Docker and Podman with a registry, or `localhost/hookwise-base` made by mmdebstrap
# (`make image` does that on machines without a registry). The wheelhouse must be made for
# the base's Python version (IMAGE_PYTHON in the Makefile).
ARG BASE=python:3.12-slim-bookworm

FROM ${BASE} AS build
COPY wheelhouse/ /wheelhouse/
RUN python3 -m venv /opt/hookwise \
 && /opt/hookwise/bin/pip install --no-cache-dir --no-index --find-links /wheelhouse hookwise \
 && /opt/hookwise/bin/hookwise --version

FROM ${BASE}
LABEL org.opencontainers.image.title="hookwise" \
      org.opencontainers.image.description="A declarative workflow rules engine for GitHub" \
      org.opencontainers.image.licenses="MIT"
# A user of its own (no shell, no password); its home holds the SQLite default and the cache.
# Written directly, since a minimal base may lack useradd.
RUN echo "hookwise:x:10001:" >> /etc/group \
 && echo "hookwise:x:10001:10001:hookwise:/var/lib/hookwise:/usr/sbin/nologin" >> /etc/passwd \
 && mkdir -p /var/lib/hookwise && chown 10001:10001 /var/lib/hookwise && chmod 0700 /var/lib/hookwise
COPY --from=build /opt/hookwise /opt/hookwise
COPY rules/ /etc/hookwise/rules/
# Settings come from the environment only (docs/operations.md lists them). These are the
# image's defaults: mount your rules over /etc/hookwise/rules or set HOOKWISE_RULES; set
# DATABASE_URL for PostgreSQL (the SQLite default lives in the volume below).
ENV PATH=/opt/hookwise/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    HOOKWISE_RULES=/etc/hookwise/rules \
    DATABASE_URL=sqlite:////var/lib/hookwise/hookwise.db \
    HOOKWISE_CACHE_DIR=/var/lib/hookwise/cache \
    PORT=8000
USER hookwise:hookwise
WORKDIR /var/lib/hookwise
VOLUME ["/var/lib/hookwise"]
EXPOSE 8000
# The server listens on $PORT (8000) and answers /health there with 200 while its database is
# writable and its workers alive; a worker container (`worker`) has no HTTP port, so compose
# switches the check off for it (docker run: --no-healthcheck).
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
  CMD ["python3", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/health' % os.environ.get('PORT', '8000'), timeout=4)"]
ENTRYPOINT ["hookwise"]
CMD ["serve", "--host", "0.0.0.0"]

# tthc-gateway: multi-stage build, slim base, non-root, healthcheck on /healthz.
# Build: docker build -t tthc-gateway .    Run: docker run -p 8080:8080 tthc-gateway
# Dependencies come only from requirements.lock (every file's sha256 pinned; refresh with
# `make lock`); the project's own wheel is built with the locked build backend and
# installed with --no-deps, so nothing unpinned enters the image.
FROM python:3.11-slim AS build
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /src
# the locked runtime set, in its own layer: rebuilt only when the lock changes
COPY requirements.lock requirements-build.lock ./
RUN python -m venv /opt/tthc-gateway \
    && /opt/tthc-gateway/bin/python -m pip install --require-hashes -r requirements.lock \
    && python -m pip install --require-hashes -r requirements-build.lock
COPY pyproject.toml README.md ./
COPY gateway ./gateway
COPY adapters ./adapters
COPY mocks ./mocks
COPY contracts ./contracts
RUN python -m pip wheel --no-deps --no-build-isolation --wheel-dir /wheels . \
    && /opt/tthc-gateway/bin/python -m pip install --no-deps /wheels/tthc_gateway-*.whl \
    && /opt/tthc-gateway/bin/python -m pip check

FROM python:3.11-slim AS runtime
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 \
    PATH=/opt/tthc-gateway/bin:$PATH \
    TTHC_CONFIG_DIR=/app/config TTHC_ENV=production \
    TTHC_VAR_DIR=/var/lib/tthc-gateway TTHC_KEYS__DIRECTORY=/var/lib/tthc-gateway/keys
RUN groupadd --system tthc && useradd --system --gid tthc --home-dir /app --shell /usr/sbin/nologin tthc
# the same base image in both stages, so the virtual environment's interpreter path holds
COPY --from=build /opt/tthc-gateway /opt/tthc-gateway
WORKDIR /app
# config/default.yaml and the examples; mount the deployment's config/production.yaml
# (TTHC_ENV=production refuses to start without it) and pass secrets as TTHC_* variables.
# contracts/ ships inside the wheel.
COPY config ./config
RUN mkdir -p /var/lib/tthc-gateway/keys && chown -R tthc:tthc /var/lib/tthc-gateway
USER tthc
EXPOSE 8080
HEALTHCHECK --interval=30s --timeout=3s --start-period=20s --retries=3 \
    CMD ["python", "-c", "import urllib.request,sys; sys.exit(0 if urllib.request.urlopen('http://127.0.0.1:8080/healthz', timeout=2).status == 200 else 1)"]
ENTRYPOINT ["tthc-gateway"]
CMD ["serve"]

# tthc-gateway: multi-stage build, slim base, non-root, healthcheck on /healthz.
# Build: docker build -t tthc-gateway .    Run: docker run -p 8080:8080 tthc-gateway
FROM python:3.11-slim AS build
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /src
COPY pyproject.toml README.md ./
COPY gateway ./gateway
COPY adapters ./adapters
COPY mocks ./mocks
COPY contracts ./contracts
RUN python -m pip wheel --wheel-dir /wheels .

FROM python:3.11-slim AS runtime
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 \
    TTHC_CONFIG_DIR=/app/config TTHC_ENV=production \
    TTHC_VAR_DIR=/var/lib/tthc-gateway TTHC_KEYS__DIRECTORY=/var/lib/tthc-gateway/keys
RUN groupadd --system tthc && useradd --system --gid tthc --home-dir /app --shell /usr/sbin/nologin tthc
COPY --from=build /wheels /wheels
RUN python -m pip install --no-cache-dir --no-index --find-links=/wheels tthc-gateway && rm -rf /wheels
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

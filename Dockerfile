# execstream: gRPC on 50051, Prometheus metrics on 9464, SQLite data in /var/lib/execstream.
#   docker build -t execstream .
#   docker run -p 127.0.0.1:50051:50051 -p 127.0.0.1:9464:9464 -v execstream-data:/var/lib/execstream \
#     -e EXECSTREAM_AUTH_FILE=/run/secrets/execstream-tokens execstream
# Configuration is by EXECSTREAM_* variables (every flag has one; see docs/operations.md).
# The server listens on 0.0.0.0 in the container, so it refuses to start without auth
# (EXECSTREAM_AUTH_FILE) and TLS (EXECSTREAM_TLS_CERT/KEY) unless EXECSTREAM_INSECURE=true;
# /metrics on 0.0.0.0 (it has no auth) needs EXECSTREAM_INSECURE=true in any case, or
# EXECSTREAM_METRICS_PORT=0 to turn it off.

ARG PYTHON_IMAGE=python:3.11.13-slim-bookworm

# ---- build: wheels for the package and its runtime dependencies only ----
FROM ${PYTHON_IMAGE} AS build
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1
WORKDIR /src
COPY pyproject.toml README.md LICENSE ./
COPY clients/python ./clients/python
COPY server ./server
RUN pip wheel --wheel-dir /wheels ".[redis,uvloop]"

# ---- runtime: slim, non-root, no compilers, no dev tools ----
FROM ${PYTHON_IMAGE} AS runtime
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1 PYTHONUNBUFFERED=1
RUN groupadd --system --gid 10001 execstream \
 && useradd --system --uid 10001 --gid execstream --home-dir /var/lib/execstream \
      --create-home --shell /usr/sbin/nologin execstream
COPY --from=build /wheels /tmp/wheels
RUN pip install --no-index --find-links /tmp/wheels "execstream[redis,uvloop]" \
 && rm -rf /tmp/wheels

USER execstream
WORKDIR /var/lib/execstream
VOLUME ["/var/lib/execstream"]
ENV EXECSTREAM_HOST=0.0.0.0 \
    EXECSTREAM_PORT=50051 \
    EXECSTREAM_DB=/var/lib/execstream/execstream.db \
    EXECSTREAM_METRICS_HOST=0.0.0.0 \
    EXECSTREAM_METRICS_PORT=9464 \
    EXECSTREAM_HTTP_HOST=0.0.0.0 \
    EXECSTREAM_HTTP_PORT=8080
EXPOSE 50051 9464 8080
HEALTHCHECK --interval=10s --timeout=5s --start-period=15s --retries=3 \
  CMD ["execstream", "health", "--target", "127.0.0.1:50051"]
ENTRYPOINT ["execstream"]
CMD ["serve"]

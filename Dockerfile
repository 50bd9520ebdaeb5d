# The sipline image: the worker, the CLI and the sandbox, run as a non-root user.
#   docker build -t sipline:local .
# Used by compose.yaml for both the `sandbox` and the `worker` service.

ARG PYTHON_IMAGE=python:3.11-slim

FROM ${PYTHON_IMAGE} AS build
WORKDIR /src
COPY pyproject.toml README.md ./
COPY contracts ./contracts
COPY worker ./worker
RUN pip wheel --no-cache-dir --wheel-dir /wheels .

FROM ${PYTHON_IMAGE}
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1
COPY --from=build /wheels /wheels
RUN pip install --no-cache-dir /wheels/*.whl \
    && rm -rf /wheels \
    && useradd --create-home --uid 10001 --user-group sipline \
    && mkdir -p /app/var /shared \
    && chown sipline:sipline /app/var /shared
# /app/var holds refreshed OAuth tokens (SIPLINE_BITRIX24_TOKEN_STORE is relative to it);
# /shared is where compose mounts the volume with the sandbox's env file and credentials.
WORKDIR /app
USER sipline
EXPOSE 9464
CMD ["sipline", "run"]

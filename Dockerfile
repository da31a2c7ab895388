# Two images from one build, every Tandem process in one of them:
#   runtime (the default, last stage): `tandem serve` (default command), `tandem assistant`,
#       and vLLM's sidecar `tandem model sync`; no torch.
#       docker build -t tandem:dev .          (or: docker build --target runtime ...)
#   train: the same project plus the `train` extra of pyproject.toml (torch, transformers,
#       peft, trl, accelerate, datasets): `tandem finetune` with the local trainer and
#       `tandem model serve`.
#       docker build --target train -t tandem-train:dev .
# torch comes from TORCH_INDEX_URL, by default the CPU wheels (minikube, CI). For GPU nodes
# build the CUDA wheel that the node's driver supports, e.g.
#       docker build --target train --build-arg TORCH_INDEX_URL=https://download.pytorch.org/whl/cu128 \
#           -t tandem-train:0.1.0-cu128 .
# (the NVIDIA driver comes from the node, e.g. EKS's accelerated AMI; the wheel bundles CUDA).

# --- web bundle: node only here, nothing of it but web/dist reaches the runtime ---------------
FROM node:20-bookworm-slim AS web
WORKDIR /src
COPY web/package.json web/package-lock.json web/
RUN npm ci --prefix web --no-audit --no-fund
COPY web/ web/
RUN npm run build --prefix web

# --- Python dependencies: their own layer, rebuilt only when pyproject.toml or the lock changes
FROM python:3.11-slim-bookworm AS deps
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONDONTWRITEBYTECODE=1
RUN python -m venv /app/.venv
ENV PATH="/app/.venv/bin:$PATH"
WORKDIR /app
COPY pyproject.toml requirements.lock ./
# Runtime dependencies and every optional extra except the test tools and training.
RUN python -c "import tomllib; p = tomllib.load(open('pyproject.toml', 'rb'))['project']; extras = p.get('optional-dependencies', {}); print('\n'.join(p['dependencies'] + [d for name, deps in extras.items() if name not in ('test', 'dev', 'train') for d in deps]))" > requirements.txt \
    && pip install --no-cache-dir -c requirements.lock -r requirements.txt

# --- training dependencies on top: torch first, from the index that has the wanted build -----
FROM deps AS train-deps
ARG TORCH_VERSION=2.13.0
ARG TORCH_INDEX_URL=https://download.pytorch.org/whl/cpu
RUN pip install --no-cache-dir -c requirements.lock --index-url "$TORCH_INDEX_URL" "torch==$TORCH_VERSION" \
    && python -c "import tomllib; print('\n'.join(tomllib.load(open('pyproject.toml', 'rb'))['project']['optional-dependencies']['train']))" > train-requirements.txt \
    && pip install --no-cache-dir -c requirements.lock -r train-requirements.txt

# --- the project itself, in /app (the server finds the web bundle at /app/web/dist) ----------
FROM deps AS build
COPY . .
RUN rm -rf web requirements.txt requirements.lock \
    && pip install --no-cache-dir --no-deps -e . \
    && python -m compileall -q -x '/app/\.venv/' /app

# --- the same project over the training dependencies ----------------------------------------
FROM train-deps AS train-build
COPY . .
RUN rm -rf web requirements.txt requirements.lock train-requirements.txt \
    && pip install --no-cache-dir --no-deps -e . \
    && python -m compileall -q -x '/app/\.venv/' /app

# --- what both images share: a non-root user, the venv on PATH ------------------------------
FROM python:3.11-slim-bookworm AS base
ENV PATH="/app/.venv/bin:$PATH" \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    TANDEM_HOST=0.0.0.0 \
    TANDEM_DATA_DIR=/tmp/tandem
RUN groupadd --system --gid 10001 tandem \
    && useradd --system --uid 10001 --gid tandem --home-dir /app --no-create-home tandem
WORKDIR /app

# --- train: training and the transformers model server (no web bundle) ---------------------
FROM base AS train
ENV HF_HOME=/tmp/huggingface \
    TANDEM_MODEL_CACHE_DIR=/tmp/model-cache
COPY --from=train-build /app /app
USER 10001:10001
EXPOSE 8002
# checkov:skip=CKV_DOCKER_2: health is checked by the Kubernetes probes; finetune has no port
ENTRYPOINT ["tandem"]
CMD ["model", "serve"]

# --- runtime: the project, its venv and the web bundle; a non-root user, nothing else --------
FROM base AS runtime
COPY --from=build /app /app
COPY --from=web /src/web/dist /app/web/dist
USER 10001:10001
EXPOSE 8000
# Kubernetes probes /healthz and /readyz itself; assistant and finetune processes have no port.
# checkov:skip=CKV_DOCKER_2: health is checked by the Kubernetes probes, and only `serve` listens
ENTRYPOINT ["tandem"]
CMD ["serve"]

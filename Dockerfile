# One image for every Tandem process: `tandem serve` (default), `tandem assistant`,
# `tandem finetune`. Build: docker build -t tandem:dev .

# --- web bundle: node only here, nothing of it but web/dist reaches the runtime ---------------
FROM node:20-bookworm-slim AS web
WORKDIR /src
COPY web/package.json web/package-lock.json web/
RUN npm ci --prefix web --no-audit --no-fund
COPY web/ web/
RUN npm run build --prefix web

# --- Python dependencies: their own layer, rebuilt only when pyproject.toml changes ----------
FROM python:3.11-slim-bookworm AS build
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONDONTWRITEBYTECODE=1
RUN python -m venv /app/.venv
ENV PATH="/app/.venv/bin:$PATH"
WORKDIR /app
COPY pyproject.toml ./
# Runtime dependencies and every optional extra except the test tools.
RUN python -c "import tomllib; p = tomllib.load(open('pyproject.toml', 'rb'))['project']; extras = p.get('optional-dependencies', {}); print('\n'.join(p['dependencies'] + [d for name, deps in extras.items() if name not in ('test', 'dev') for d in deps]))" > requirements.txt \
    && pip install --no-cache-dir -r requirements.txt

# --- the project itself, in /app (the server finds the web bundle at /app/web/dist) ----------
COPY . .
RUN rm -rf web requirements.txt \
    && pip install --no-cache-dir --no-deps -e . \
    && python -m compileall -q -x '/app/\.venv/' /app

# --- runtime: the project, its venv and the web bundle; a non-root user, nothing else --------
FROM python:3.11-slim-bookworm AS runtime
ENV PATH="/app/.venv/bin:$PATH" \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    TANDEM_HOST=0.0.0.0 \
    TANDEM_DATA_DIR=/tmp/tandem
RUN groupadd --system --gid 10001 tandem \
    && useradd --system --uid 10001 --gid tandem --home-dir /app --no-create-home tandem
COPY --from=build /app /app
COPY --from=web /src/web/dist /app/web/dist
USER 10001:10001
WORKDIR /app
EXPOSE 8000
# Kubernetes probes /healthz and /readyz itself; assistant and finetune processes have no port.
# checkov:skip=CKV_DOCKER_2: health is checked by the Kubernetes probes, and only `serve` listens
ENTRYPOINT ["tandem"]
CMD ["serve"]

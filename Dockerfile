# The gateway image: API/dashboard/checkout (`gateway serve`), migrations (`gateway migrate`) and
# workers (`gateway worker`: procrastinate's CLI on uvloop) all run from it; see compose.yaml.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /app
COPY . /app
# Editable install on purpose: db/migrations and checkout/ are read next to the package
# (gateway/migrations.py, gateway/checkout.py), which a site-packages install would leave behind.
# /var/lib/gateway is GATEWAY_DATA_DIR (the demo's generated key): the only place the
# unprivileged user writes, owned by it and private to it. compose.yaml mounts a volume there,
# which Docker initialises with this ownership.
RUN pip install -e . \
    && useradd --system --uid 10001 --home-dir /app gateway \
    && install -d -o gateway -m 0700 /var/lib/gateway

ENV GATEWAY_DATA_DIR=/var/lib/gateway
USER gateway
EXPOSE 8000 3000 3001
CMD ["gateway", "serve"]

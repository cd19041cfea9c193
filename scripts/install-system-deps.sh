#!/usr/bin/env bash
# Debian packages for every program a test or a bench calls (tests/tools.py finds them; with
# CI=true a missing one fails its test): Chromium for the browser tests, node for the
# JSON.stringify check, node and npm for the official Razorpay Node SDK test
# (tests/razorpay/test_node_sdk.py runs npm ci itself), pg_dump for the schema-drift and
# card-data checks, wrk and pgbench for the benches.
set -euo pipefail
need=()
command -v chromium >/dev/null 2>&1 || need+=(chromium)
command -v node >/dev/null 2>&1 || need+=(nodejs)
command -v npm >/dev/null 2>&1 || need+=(npm)
command -v pg_dump >/dev/null 2>&1 || need+=(postgresql-client)
command -v wrk >/dev/null 2>&1 || need+=(wrk)
command -v pgbench >/dev/null 2>&1 || need+=(postgresql-contrib)
if [ ${#need[@]} -gt 0 ]; then
  if [ "$(id -u)" -ne 0 ]; then
    echo "install these Debian packages first: ${need[*]}" >&2
    exit 1
  fi
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}"
fi
for tool in chromium node npm pg_dump wrk pgbench; do
  command -v "$tool" >/dev/null 2>&1 || { echo "still missing after install: $tool" >&2; exit 1; }
done

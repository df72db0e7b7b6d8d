#!/usr/bin/env bash
# Installs PostGIS for routing-bench: Debian's package for the PostgreSQL major version installed here.
set -euo pipefail
as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }
major=$(ls /etc/postgresql 2>/dev/null | sort -n | tail -1)
[ -n "$major" ] || { echo "no PostgreSQL cluster found under /etc/postgresql" >&2; exit 1; }
as_root apt-get update -qq
DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq "postgresql-${major}-postgis-3"
echo "PostGIS installed for PostgreSQL ${major}"

#!/usr/bin/env bash
# Start a local PostgreSQL server from Debian's package (installing it when missing) and make
# a superuser role and database `pufa`. Prints the URL to use as PUFA_TEST_PG_URL / PUFA_DB.
set -euo pipefail
if [ ! -d /usr/lib/postgresql ] || ! command -v pg_ctlcluster >/dev/null 2>&1; then
  echo "installing postgresql (Debian package) ..." >&2
  apt-get update -q >&2 && DEBIAN_FRONTEND=noninteractive apt-get install -y -q postgresql >&2
fi
ver=$(ls /usr/lib/postgresql | sort -V | tail -n 1)
if ! pg_lsclusters -h 2>/dev/null | awk '{print $1" "$2}' | grep -qx "$ver main"; then
  pg_createcluster "$ver" main >&2
fi
pg_ctlcluster "$ver" main start >&2 2>/dev/null || true
for _ in $(seq 1 30); do
  pg_isready -q -h 127.0.0.1 -p 5432 && break
  sleep 1
done
pg_isready -h 127.0.0.1 -p 5432 >&2
su postgres -c "psql -v ON_ERROR_STOP=1 -q -c \"DO \\\$\\\$BEGIN IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'pufa') THEN CREATE ROLE pufa LOGIN SUPERUSER PASSWORD 'pufa'; END IF; END\\\$\\\$;\"" >&2
if ! su postgres -c "psql -tAc \"SELECT 1 FROM pg_database WHERE datname = 'pufa'\"" | grep -q 1; then
  su postgres -c "createdb -O pufa pufa" >&2
fi
echo "postgresql://pufa:pufa@127.0.0.1:5432/pufa"

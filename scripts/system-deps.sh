#!/usr/bin/env bash
# Ensure the Debian system packages that Alianza's tests need are present.
#
# Why a script: nothing installed by hand survives onto a fresh machine (a new
# developer box or CI), so the project itself must install what it relies on.
# It is idempotent and fast: when everything is already there it only runs a
# few `command -v` / `dpkg-query` checks and never touches the network.
#
# Checked (one output line each):
#   chromium            /usr/bin/chromium, driven by Playwright via executable_path
#                       (Playwright's own browser download cannot work here)
#   postgresql          initdb + pg_ctl, on PATH or in /usr/lib/postgresql/*/bin,
#                       used by tests/support/postgres.py for a throw-away cluster
#   fonts-dejavu-core   fonts for WeasyPrint PDF rendering
#   libpango-1.0-0      text layout library WeasyPrint loads at import time
#   java (17+)          the JVM of Apache Spark, for the Spark engine's tests (local mode);
#                       package openjdk-17-jre-headless when no java of 17 or newer is on PATH
#
# With --runtime only what a running node needs (the PDF libraries) is checked: that is what `make demo` uses.
#
# Runs without a TTY; exits non-zero with a message if an install fails.
set -euo pipefail

export DEBIAN_FRONTEND=noninteractive

log() { printf 'system-deps: %s\n' "$*"; }
die() { printf 'system-deps: ERROR: %s\n' "$*" >&2; exit 1; }

SUDO=()
if [ "$(id -u)" -ne 0 ]; then
    if command -v sudo >/dev/null 2>&1; then
        SUDO=(sudo -n)
    fi
fi

missing=()

# dpkg_installed PKG -> 0 if the package is fully installed.
dpkg_installed() {
    dpkg-query -W -f='${db:Status-Status}' "$1" 2>/dev/null | grep -qx installed
}

# find_pg_bin NAME -> print the path of a PostgreSQL server binary, if any.
find_pg_bin() {
    local name="$1" found=""
    if found="$(command -v "$name" 2>/dev/null)" && [ -n "$found" ]; then
        printf '%s\n' "$found"
        return 0
    fi
    # Highest major version first.
    local candidate
    candidate="$(printf '%s\n' /usr/lib/postgresql/*/bin/"$name" | sort -V -r \
        | while IFS= read -r path; do [ -x "$path" ] && { printf '%s\n' "$path"; break; }; done)"
    [ -n "$candidate" ] || return 1
    printf '%s\n' "$candidate"
}

check_chromium() {
    if [ -x /usr/bin/chromium ]; then
        log "chromium: ok (/usr/bin/chromium)"
    else
        log "chromium: missing, will install package 'chromium'"
        missing+=(chromium)
    fi
}

check_postgres() {
    local initdb pg_ctl
    initdb="$(find_pg_bin initdb || true)"
    pg_ctl="$(find_pg_bin pg_ctl || true)"
    if [ -n "$initdb" ] && [ -n "$pg_ctl" ]; then
        log "postgresql: ok (initdb=$initdb, pg_ctl=$pg_ctl)"
    else
        log "postgresql: initdb/pg_ctl not found, will install package 'postgresql'"
        missing+=(postgresql)
    fi
}

# java_major -> the major version of the java on PATH (empty when there is none).
java_major() {
    command -v java >/dev/null 2>&1 || return 0
    java -version 2>&1 | sed -n 's/.*version "\([0-9]*\).*/\1/p' | head -n 1
}

check_java() {
    local major
    major="$(java_major)"
    if [ -n "$major" ] && [ "$major" -ge 17 ]; then
        log "java: ok (major version $major)"
    else
        log "java: ${major:-none} found, Spark needs 17 or newer, will install package 'openjdk-17-jre-headless'"
        missing+=(openjdk-17-jre-headless)
    fi
}

check_pkg() {
    local pkg="$1"
    if dpkg_installed "$pkg"; then
        log "$pkg: ok"
    else
        log "$pkg: missing, will install"
        missing+=("$pkg")
    fi
}

runtime_only=false
[ "${1:-}" = "--runtime" ] && runtime_only=true

if ! $runtime_only; then
    check_chromium
    check_postgres
    check_java
fi
check_pkg fonts-dejavu-core
check_pkg libpango-1.0-0

if [ "${#missing[@]}" -eq 0 ]; then
    log "all present, nothing to install"
    exit 0
fi

if [ "$(id -u)" -ne 0 ] && [ "${#SUDO[@]}" -eq 0 ]; then
    die "need root (or passwordless sudo) to install: ${missing[*]}"
fi

log "apt-get update"
"${SUDO[@]}" apt-get update -q </dev/null \
    || die "apt-get update failed; cannot install: ${missing[*]}"

log "apt-get install ${missing[*]}"
"${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -q \
    --no-install-recommends -o Dpkg::Options::=--force-confold "${missing[@]}" </dev/null \
    || die "apt-get install failed for: ${missing[*]}"

# Verify the result rather than trusting apt's exit code alone.
if ! $runtime_only; then
    [ -x /usr/bin/chromium ] || die "chromium still missing at /usr/bin/chromium after install"
    find_pg_bin initdb >/dev/null || die "initdb still not found after installing postgresql"
    find_pg_bin pg_ctl >/dev/null || die "pg_ctl still not found after installing postgresql"
    [ "$(java_major)" -ge 17 ] 2>/dev/null || die "no java 17 or newer on PATH after install"
fi
for pkg in fonts-dejavu-core libpango-1.0-0; do
    dpkg_installed "$pkg" || die "$pkg still not installed after apt-get install"
done
log "done: installed ${missing[*]}"

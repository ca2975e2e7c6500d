#!/usr/bin/env bash
# Installs the Debian packages Minke's demo and tests need, when they are missing:
# OpenSSH's server (the test hosts), sudo (on them), OpenSSL's headers (the bundled libpq is built
# with TLS), PostgreSQL itself,
# and Chromium with its WebDriver (the admin's end-to-end test).
set -euo pipefail

missing=()
[ -x /usr/sbin/sshd ] || missing+=(openssh-server)
command -v ssh-keygen >/dev/null || missing+=(openssh-client)
command -v pkg-config >/dev/null || missing+=(pkg-config)
# `cx.sudo` is tested against the real sudo on the test hosts.
command -v sudo >/dev/null || missing+=(sudo)
[ -e /usr/include/openssl/ssl.h ] || missing+=(libssl-dev)
if [ ! -x /usr/bin/chromium ] || [ ! -x /usr/bin/chromedriver ]; then
    missing+=(chromium chromium-driver)
fi
if [ "${MINKE_SKIP_POSTGRES:-0}" != 1 ] && ! command -v pg_ctlcluster >/dev/null; then
    missing+=(postgresql)
fi

if [ ${#missing[@]} -gt 0 ]; then
    echo "install-deps: installing ${missing[*]}" >&2
    sudo=""
    [ "$(id -u)" = 0 ] || sudo=sudo
    export DEBIAN_FRONTEND=noninteractive
    $sudo apt-get update -qq >&2
    $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2
fi
# sshd refuses to start without its privilege separation directory.
if [ "$(id -u)" = 0 ]; then
    mkdir -p /run/sshd
fi

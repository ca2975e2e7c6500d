#!/usr/bin/env bash
# Installs the Debian packages Minke needs, when they are missing:
#
#   scripts/install-deps.sh demo   what the build and the demo need: OpenSSH's server
#                                  and client (the throwaway hosts) and OpenSSL's
#                                  headers (the bundled libpq is built with TLS)
#   scripts/install-deps.sh test   that, and what the tests need besides: sudo (on
#                                  the test hosts), PostgreSQL, Chromium with its
#                                  WebDriver (the admin's end-to-end test)
set -euo pipefail

set_name="${1:-test}"
case "$set_name" in
demo | test) ;;
*)
    echo "install-deps: unknown set \`$set_name\` (demo or test)" >&2
    exit 2
    ;;
esac

missing=()
[ -x /usr/sbin/sshd ] || missing+=(openssh-server)
command -v ssh-keygen >/dev/null || missing+=(openssh-client)
command -v pkg-config >/dev/null || missing+=(pkg-config)
[ -e /usr/include/openssl/ssl.h ] || missing+=(libssl-dev)
if [ "$set_name" = test ]; then
    # `cx.sudo` is tested against the real sudo on the test hosts.
    command -v sudo >/dev/null || missing+=(sudo)
    if [ ! -x /usr/bin/chromium ] || [ ! -x /usr/bin/chromedriver ]; then
        missing+=(chromium chromium-driver)
    fi
    command -v pg_ctlcluster >/dev/null || missing+=(postgresql)
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

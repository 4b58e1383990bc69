#!/bin/sh
# Installs the Debian packages the module, the local stack and the tests need.
# As root it runs apt-get; otherwise it prints the exact line to run.
set -e

PKGS="gcc make libc6-dev nginx nginx-dev libpcre2-dev zlib1g-dev libssl-dev
      libpq-dev libhiredis-dev libjansson-dev libcurl4-openssl-dev libqrencode-dev libcmark-dev
      openssl curl chromium chromium-driver
      postgresql postgresql-contrib redis-server
      postgresql-15-pgtap libtap-parser-sourcehandler-pgtap-perl
      perl libmojolicious-perl libtest-simple-perl wrk valgrind
      python3-aiosmtpd python3-dkim
      zbar-tools librsvg2-bin
      libjson-validator-perl libyaml-libyaml-perl
      libgmime-3.0-dev dovecot-imapd
      clang libclang-rt-14-dev dpkg-dev
      libidn2-dev pebble"

# the OpenAPI linter of the tests comes from npm (src/tools/openapi-lint.sh);
# a Node.js that ships its own npm is kept as it is
command -v npm >/dev/null 2>&1 || PKGS="$PKGS npm"

# make asan and make fuzz build nginx itself from Debian's source package
SRC_LIST=/etc/apt/sources.list.d/nginx-helpdesk-src.sources
need_src=""
if ! apt-cache showsrc nginx 2>/dev/null | grep -q '^Version:'; then
    need_src=1
fi

missing=""
for p in $PKGS; do
    if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'ok installed'; then
        missing="$missing $p"
    fi
done

[ -z "$missing" ] && [ -z "$need_src" ] && exit 0

if [ "$(id -u)" -ne 0 ]; then
    [ -n "$missing" ] && echo "missing packages; run as root:" \
        && echo "    apt-get install -y$missing"
    [ -n "$need_src" ] && echo "no deb-src lines for Debian's source" \
        "packages; run make deps as root"
    exit 1
fi

if [ -n "$need_src" ]; then
    sed -n 's/^Types: deb$/Types: deb-src/; /^Types:\|^URIs:\|^Suites:\|^Components:\|^Signed-By:\|^$/p' \
        /etc/apt/sources.list.d/debian.sources > "$SRC_LIST.new" 2>/dev/null || true
    if ! grep -q '^Types: deb-src' "$SRC_LIST.new" 2>/dev/null; then
        # the one-line format: the machine's own "deb" lines, as deb-src
        sed -n 's/^deb \(.*\)$/deb-src \1/p' /etc/apt/sources.list \
            > "$SRC_LIST.new" 2>/dev/null || true
        SRC_LIST=/etc/apt/sources.list.d/nginx-helpdesk-src.list
    fi
    if [ ! -s "$SRC_LIST.new" ]; then
        rm -f "$SRC_LIST.new"
        echo "no Debian sources to derive deb-src lines from" >&2
        exit 1
    fi
    mv "$SRC_LIST.new" "$SRC_LIST"
    apt-get update -qq
fi

[ -z "$missing" ] && exit 0

echo "installing:$missing"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
# shellcheck disable=SC2086
apt-get install -y -qq --no-install-recommends $missing >/dev/null
# Packages only: a service the package install started (on a fresh machine)
# is left as it is, and one that was already running (a provider's own
# nginx, PostgreSQL or Redis) is never stopped or disabled.  The local stack
# and the tests run their own instances on unix sockets and their own ports
# and do not need the packaged ones stopped.

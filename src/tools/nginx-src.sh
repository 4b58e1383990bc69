#!/bin/sh
# The full nginx source, for the builds with sanitizers (make asan, make
# fuzz): Debian's nginx-dev ships headers only.  Unpacks Debian's nginx
# source package, with its patches, into $1; the newest version the
# archive still has.  Needs deb-src lines (make deps adds them).
set -e

dest=$1
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cd "$tmp"

for v in $(apt-cache showsrc nginx 2>/dev/null | awk '/^Version:/ {print $2}' \
           | sort -rV); do
    if apt-get source -qq --download-only "nginx=$v" >/dev/null 2>&1; then
        break
    fi
    rm -f ./*
done

dsc=$(ls nginx_*.dsc 2>/dev/null | head -1)
if [ -z "$dsc" ]; then
    echo "no nginx source package; run make deps as root (it adds deb-src)" >&2
    exit 1
fi

dpkg-source -q -x "$dsc" src >/dev/null 2>&1
rm -rf "$dest"
mv src "$dest"
echo "nginx source: $dsc"

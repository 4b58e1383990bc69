#!/bin/sh
# Lints docs/api/openapi.yaml with Redocly's recommended rules
# (docs/api/redocly.yaml, exceptions in docs/api/.redocly.lint-ignore.yaml).
# The linter comes from the npm registry, at the versions locked in
# src/tools/openapi/, into build/node on first use: a tool of the tests,
# never needed by the module.  Extra arguments go to `redocly lint`.
set -e

top=$(cd "$(dirname "$0")/../.." && pwd)
dir=$top/build/node
bin=$dir/node_modules/.bin/redocly

if ! command -v npm >/dev/null 2>&1; then
    echo "npm is not installed (make deps installs it)" >&2
    exit 2
fi

if [ ! -x "$bin" ] || ! cmp -s "$top/src/tools/openapi/package-lock.json" "$dir/package-lock.json"; then
    echo "installing the OpenAPI linter into build/node" >&2
    mkdir -p "$dir"
    cp "$top/src/tools/openapi/package.json" "$top/src/tools/openapi/package-lock.json" "$dir/"
    (cd "$dir" && npm ci --no-audit --no-fund --loglevel=error) >&2
fi

export REDOCLY_TELEMETRY=off REDOCLY_SUPPRESS_UPDATE_NOTICE=true NO_UPDATE_NOTIFIER=1
exec "$bin" lint --config "$top/docs/api/redocly.yaml" "$@" "$top/docs/api/openapi.yaml"

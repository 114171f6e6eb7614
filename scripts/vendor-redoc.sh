#!/usr/bin/env bash
# Refreshes the ReDoc bundle served at /redoc. The machines OrderFlow runs on may have no
# internet, so the bundle is committed (MIT, see api/assets/vendor/redoc/LICENSE) instead of
# being loaded from a CDN. Usage: scripts/vendor-redoc.sh [version]
set -euo pipefail
version="${1:-2.5.4}"
dest="$(cd "$(dirname "$0")/.." && pwd)/api/assets/vendor/redoc"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
(cd "$tmp" && npm pack "redoc@${version}" >/dev/null && tar xzf redoc-*.tgz)
cp "$tmp/package/bundles/redoc.standalone.js" "$dest/redoc.standalone.js"
cp "$tmp/package/LICENSE" "$dest/LICENSE"
echo "$version" > "$dest/VERSION"
echo "ReDoc $version vendored into $dest"

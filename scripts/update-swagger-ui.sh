#!/usr/bin/env bash
# Vendor Swagger UI (npm `swagger-ui-dist`) for /docs: the bundle, its CSS and the favicon,
# under broker/api/static/swagger-ui/, with VERSION.md (version, tarball integrity, licence,
# file hashes), the LICENSE, the NOTICE and the bundle's third-party licences.
#   scripts/update-swagger-ui.sh [VERSION]   (default: the newest on npm)
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/npm-vendor.sh

dest=broker/api/static/swagger-ui
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
npm_fetch swagger-ui-dist "${1:-latest}" "$work"

files=(swagger-ui-bundle.js swagger-ui.css favicon-32x32.png
    LICENSE NOTICE swagger-ui-bundle.js.LICENSE.txt)
rm -rf "$dest"
mkdir -p "$dest"
for file in "${files[@]}"; do
    install -m 0644 "$work/package/$file" "$dest/$file"
done
npm_note "$dest" swagger-ui-dist Apache-2.0 LICENSE NOTICE swagger-ui-bundle.js.LICENSE.txt
echo "vendored swagger-ui-dist $NPM_VERSION in $dest"

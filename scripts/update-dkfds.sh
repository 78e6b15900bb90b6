#!/usr/bin/env bash
# Vendor Det Fælles Designsystem (npm `dkfds`): the virkdk theme's built CSS, the JS, and
# every font and image the CSS references by relative url(), under broker/web/static/dkfds/,
# with VERSION.md (version, tarball integrity, licence, file hashes) and the LICENSE.
#   scripts/update-dkfds.sh [VERSION]   (default: the newest on npm)
# The files are copied byte for byte from the package's dist/; nothing is built here.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/npm-vendor.sh

dest=broker/web/static/dkfds
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
npm_fetch dkfds "${1:-latest}" "$work"
dist=$work/package/dist

# The entry points the pages link, the icon sprite the templates may <use>, and the
# files the CSS references (fonts, icons, logos), resolved from css/.
files=(css/dkfds-virkdk.min.css js/dkfds.min.js img/all-svg-icons.svg)
while read -r ref; do
    files+=("$(realpath -m --relative-to="$dist" "$dist/css/$ref")")
done < <(grep -o 'url([^)]*)' "$dist/css/dkfds-virkdk.min.css" |
    sed -E 's/^url\(["'\'']?//; s/["'\'']?\)$//; s/[?#].*$//' | grep -v '^data:' | LC_ALL=C sort -u)

rm -rf "$dest"
mkdir -p "$dest"
for file in "${files[@]}"; do
    [[ -f $dist/$file ]] || { echo "dkfds $NPM_VERSION: $file is referenced but missing" >&2; exit 1; }
    install -D -m 0644 "$dist/$file" "$dest/$file"
done
install -m 0644 "$work/package/LICENSE.md" "$dest/LICENSE.md"
npm_note "$dest" dkfds "MIT; the IBM Plex Sans fonts OFL-1.1; the icons Apache-2.0" LICENSE.md
echo "vendored dkfds $NPM_VERSION: ${#files[@]} files in $dest"

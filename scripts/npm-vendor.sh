# Shared by scripts/update-dkfds.sh and scripts/update-swagger-ui.sh (sourced, not run):
# fetch one npm package's tarball with `npm pack`, check it against the registry's
# integrity, unpack it, and write the VERSION.md note beside the vendored files.
# Node and npm are needed only here, when the assets are updated; never at run time.

# npm_fetch PACKAGE VERSION WORKDIR: unpack PACKAGE@VERSION to WORKDIR/package and set
# NPM_VERSION (the exact version npm resolved) and NPM_INTEGRITY (the tarball's SHA-512).
npm_fetch() {
    local package=$1 version=$2 work=$3
    command -v npm >/dev/null || { echo "npm is needed to update vendored assets" >&2; return 1; }
    NPM_VERSION=$(npm view "$package@$version" version | tail -n 1)
    [[ -n $NPM_VERSION ]] || { echo "no version $version of $package on npm" >&2; return 1; }
    local expected tarball computed
    expected=$(npm view "$package@$NPM_VERSION" dist.integrity)
    (cd "$work" && npm pack --silent "$package@$NPM_VERSION" >/dev/null)
    tarball=$(find "$work" -maxdepth 1 -name '*.tgz' | head -n 1)
    # 1. The tarball is the one the registry names: its SHA-512, computed here.
    computed="sha512-$(openssl dgst -sha512 -binary "$tarball" | base64 -w 0)"
    if [[ $computed != "$expected" ]]; then
        echo "$package@$NPM_VERSION: tarball $computed, registry says $expected" >&2
        return 1
    fi
    NPM_INTEGRITY=$computed
    # 2. Unpacked beside it, never into the tree.
    tar -xzf "$tarball" -C "$work"
}

# npm_note DEST PACKAGE LICENCE LICENCE_FILE...: write DEST/VERSION.md (after the files
# are in DEST) with the package, version, integrity, licence, date and each file's SHA-256.
npm_note() {
    local dest=$1 package=$2 licence=$3
    shift 3
    local licence_files=("$@")
    {
        echo "# $package $NPM_VERSION (vendored)"
        echo
        echo "Copied by \`scripts/$(basename "$0")\` from the npm package; do not edit these files."
        echo
        echo "- package: \`$package\`"
        echo "- version: \`$NPM_VERSION\`"
        echo "- npm tarball integrity: \`$NPM_INTEGRITY\`"
        echo "- licence: $licence (see ${licence_files[*]})"
        echo "- date: $(date -u +%F)"
        echo
        echo "## Files (SHA-256)"
        echo
        (cd "$dest" && find . -type f ! -name VERSION.md | sed 's#^\./##' | LC_ALL=C sort |
            while read -r file; do
                echo "- \`$(sha256sum "$file" | cut -d' ' -f1)\` \`$file\`"
            done)
    } >"$dest/VERSION.md"
}

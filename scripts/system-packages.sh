#!/usr/bin/env bash
# The Debian packages the broker needs beyond Python, installed only when missing:
#   run:  Pango and a font, for the print-ready PDFs (WeasyPrint);
#   test: those, and Debian's Chromium for the browser tests (launched as /usr/bin/chromium).
# Needs root or sudo when something is missing; says what to install otherwise.
set -euo pipefail

need=()
ldconfig -p | grep -q 'libpango-1.0.so.0' || need+=(libpango-1.0-0)
ldconfig -p | grep -q 'libpangoft2-1.0.so.0' || need+=(libpangoft2-1.0-0)
[[ -e /usr/share/fonts/truetype/dejavu/DejaVuSans.ttf ]] || need+=(fonts-dejavu-core)
if [[ "${1:-run}" == "test" ]]; then
    [[ -x /usr/bin/chromium ]] || need+=(chromium)
fi
((${#need[@]})) || exit 0

echo "installing Debian packages: ${need[*]}"
sudo=()
if [[ $(id -u) -ne 0 ]]; then
    if ! command -v sudo >/dev/null; then
        echo "need root to install: apt-get install ${need[*]}" >&2
        exit 1
    fi
    sudo=(sudo)
fi
if ! command -v apt-get >/dev/null; then
    echo "no apt-get here: install ${need[*]} (or their equivalents) by hand" >&2
    exit 1
fi
export DEBIAN_FRONTEND=noninteractive
"${sudo[@]}" apt-get update -qq
"${sudo[@]}" apt-get install -y -qq --no-install-recommends "${need[@]}"

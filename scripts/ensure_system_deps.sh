#!/usr/bin/env bash
# Install the real programs our outputs are tested against: LibreOffice (recalculates the
# Excel workbook) and Chromium (renders the HTML and prints the PDF). Debian packages only.
# Without root or apt, say so and exit 1: the tests that need them then skip loudly.
set -u
quiet=0; [ "${1:-}" = "--quiet" ] && quiet=1
need=()
command -v soffice >/dev/null 2>&1 || need+=(libreoffice-calc-nogui)
command -v chromium >/dev/null 2>&1 || command -v chromium-browser >/dev/null 2>&1 || need+=(chromium)
command -v pdfinfo >/dev/null 2>&1 || need+=(poppler-utils)
[ ${#need[@]} -eq 0 ] && exit 0
if [ "$(id -u)" != "0" ] || ! command -v apt-get >/dev/null 2>&1; then
  echo "missing ${need[*]}: install them with apt-get (needs root) to run the LibreOffice/Chromium checks" >&2
  exit 1
fi
[ $quiet -eq 1 ] && echo "installing ${need[*]} from Debian (one-off)…" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq >/dev/null && apt-get install -y -qq --no-install-recommends "${need[@]}" fonts-dejavu-core >/dev/null

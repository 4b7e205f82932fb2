#!/usr/bin/env bash
# System packages the test suite uses (Debian): a CJK font for the fixture PDFs, Chromium for the browser test.
set -uo pipefail
need=()
command -v chromium >/dev/null 2>&1 || need+=(chromium)
command -v chromedriver >/dev/null 2>&1 || need+=(chromium-driver)
[ -e /usr/share/fonts/truetype/droid/DroidSansFallbackFull.ttf ] || need+=(fonts-droid-fallback)
[ -e /usr/share/fonts/truetype/dejavu/DejaVuSans.ttf ] || need+=(fonts-dejavu-core)
command -v docker-compose >/dev/null 2>&1 || need+=(docker-compose)  # `docker-compose config` validates docker-compose.yml
if [ ${#need[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ]; then SUDO=""; else SUDO="sudo"; fi
  echo "installing: ${need[*]}"
  $SUDO apt-get update -qq && $SUDO apt-get install -y -qq --no-install-recommends "${need[@]}" \
    || echo "warning: could not install ${need[*]}; the tests that need them will be skipped"
fi

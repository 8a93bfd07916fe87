#!/usr/bin/env bash
# Vendor front-end assets from the npm registry into static/vendor/ at pinned versions.
# The government network has no internet: the pages and the admin load nothing external.
# The results are committed; run this only to change a version.
set -euo pipefail
cd "$(dirname "$0")/.."
declare -A PACKAGES=(
  [ol]="7.2.2"   # OpenLayers, for the GeoDjango admin map widget (the version Django 5.2 expects)
)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
for name in "${!PACKAGES[@]}"; do
  version=${PACKAGES[$name]}
  (cd "$tmp" && npm pack --silent "$name@$version" >/dev/null)
  mkdir -p "$tmp/$name" && tar -xzf "$tmp/$name-$version.tgz" -C "$tmp/$name"
done
mkdir -p static/vendor/ol
cp "$tmp/ol/package/dist/ol.js" "$tmp/ol/package/ol.css" static/vendor/ol/
cp "$tmp/ol/package/LICENSE.md" static/vendor/ol/LICENSE.md
# No source maps are shipped: drop the reference so the manifest storage does not look for one.
sed -i "/sourceMappingURL=/d" static/vendor/ol/ol.js static/vendor/ol/ol.css
printf 'ol %s\n' "${PACKAGES[ol]}" > static/vendor/VERSIONS
echo "vendored: $(tr '\n' ' ' < static/vendor/VERSIONS)"

#!/usr/bin/env bash
# Vendor front-end assets from the npm registry into static/vendor/ at pinned versions.
# The government network has no internet: the pages and the admin load nothing external.
# The results are committed; run this only to change a version.
set -euo pipefail
cd "$(dirname "$0")/.."
declare -A PACKAGES=(
  [ol]="7.2.2"            # OpenLayers, for the GeoDjango admin map widget (the version Django 5.2 expects)
  [leaflet]="1.9.4"       # the blueprint page (blueprint/templates/blueprint/page.html)
  [proj4]="2.22.0"        # CRS maths in the browser: CGCS2000 and Gauss-Kruger (EPSG:4525) readout
  [proj4leaflet]="1.0.2"  # Leaflet on the CGCS2000 geographic tile grid (crs=4490)
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

# Leaflet: the minified build, its stylesheet and the images the stylesheet names.
rm -rf static/vendor/leaflet && mkdir -p static/vendor/leaflet/images
cp "$tmp/leaflet/package/dist/leaflet.js" "$tmp/leaflet/package/dist/leaflet.css" \
  "$tmp/leaflet/package/LICENSE" static/vendor/leaflet/
cp "$tmp/leaflet/package/dist/images/"*.png static/vendor/leaflet/images/
sed -i "/sourceMappingURL=/d" static/vendor/leaflet/leaflet.js static/vendor/leaflet/leaflet.css

# proj4 (UMD build, global `proj4`) and proj4leaflet (global plug-in `L.Proj`).
rm -rf static/vendor/proj4 static/vendor/proj4leaflet
mkdir -p static/vendor/proj4 static/vendor/proj4leaflet
cp "$tmp/proj4/package/dist/proj4.js" "$tmp/proj4/package/LICENSE.md" static/vendor/proj4/
cp "$tmp/proj4leaflet/package/src/proj4leaflet.js" "$tmp/proj4leaflet/package/LICENSE" \
  static/vendor/proj4leaflet/
sed -i "/sourceMappingURL=/d" static/vendor/proj4/proj4.js static/vendor/proj4leaflet/proj4leaflet.js

for name in $(printf '%s\n' "${!PACKAGES[@]}" | sort); do
  printf '%s %s\n' "$name" "${PACKAGES[$name]}"
done > static/vendor/VERSIONS
echo "vendored: $(tr '\n' ' ' < static/vendor/VERSIONS)"

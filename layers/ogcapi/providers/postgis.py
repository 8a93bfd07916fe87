"""The PostGIS provider: a published layer version's features, filtered in the database.

Every filter is an ORM lookup on a whitelisted column (values are bound parameters). The
page is chosen first (by id, in feature order, on the version's own partition) and only its
rows are transformed (ST_Transform, skipped where PROJ's transform is the identity, as from
CGCS2000 to CRS84; then ST_FlipCoordinates where the CRS puts latitude or northing first)
and written as GeoJSON: no request transforms a whole layer.
"""

from __future__ import annotations

import datetime as dt
import math
from typing import Any

from django.conf import settings
from django.contrib.gis.db.models.functions import AsGeoJSON, GeomOutputGeoFunc, Transform
from django.db.models import F, QuerySet
from django.utils import timezone

from layers import crs as registry
from layers.fields import INDICATOR_FIELDS
from layers.geojson import FEATURE_VALUES, feature_json
from layers.models import Feature, LayerVersion
from layers.ogcapi.crs_uris import OgcCrs, same_coordinates
from layers.ogcapi.providers.base import BaseProvider, Extent, Query, QueryResult

ORDER = ("feature_no", "id")


class FlipCoordinates(GeomOutputGeoFunc):
    function = "ST_FlipCoordinates"


def _geojson(crs: OgcCrs) -> AsGeoJSON:
    geom: Any = F("geom")
    if not same_coordinates(settings.STORAGE_SRID, crs.epsg):
        geom = Transform(geom, crs.epsg)
    if crs.lat_first:
        geom = FlipCoordinates(geom)
    return AsGeoJSON(geom, precision=crs.precision)


class PostGISProvider(BaseProvider):
    fields = {"feature_no": "int", **{f.name: f.kind for f in INDICATOR_FIELDS}}

    def __init__(self, version: LayerVersion):
        self.version = version

    def _features(self) -> QuerySet[Feature]:
        # Filtering on version_id keeps every query on the version's partition.
        return Feature.objects.filter(version_id=self.version.pk)

    def valid_from(self) -> dt.datetime:
        return timezone.make_aware(dt.datetime.combine(self.version.effective_date, dt.time.min))

    def extent(self) -> Extent:
        bbox = None
        if self.version.extent is not None:
            x0, y0, x1, y1 = self.version.extent.extent
            t = registry.transformer(settings.STORAGE_SRID, registry.WGS84)
            (lon0, lon1), (lat0, lat1) = t.transform([x0, x1], [y0, y1])
            # Rounded outwards to 8 decimals (about a millimetre): the box still holds all.
            bbox = (math.floor(lon0 * 1e8) / 1e8, math.floor(lat0 * 1e8) / 1e8,
                    math.ceil(lon1 * 1e8) / 1e8, math.ceil(lat1 * 1e8) / 1e8)
        return Extent(bbox_crs84=bbox, start=self.valid_from())

    def query(self, query: Query) -> QueryResult:
        qs = self._features()
        if query.interval is not None and not query.interval.intersects(self.valid_from(), None):
            return QueryResult(number_matched=0, features=[])
        if query.bbox is not None:
            qs = qs.filter(geom__intersects=query.bbox)
        unknown = set(query.properties) - set(self.fields)
        if unknown:
            raise ValueError(f"not queryable: {sorted(unknown)}")
        qs = qs.filter(**query.properties).order_by(*ORDER)
        matched = qs.count()
        if matched == 0 or query.offset >= matched:
            return QueryResult(number_matched=matched, features=[])
        page = qs.values("id")[query.offset:query.offset + query.limit]
        rows = (self._features().filter(id__in=page).order_by(*ORDER)
                .annotate(geojson=_geojson(query.crs)).values(*FEATURE_VALUES, "geojson"))
        return QueryResult(number_matched=matched, features=[feature_json(r) for r in rows])

    def get(self, identifier: str, crs: OgcCrs) -> dict[str, Any] | None:
        if not identifier.isascii() or not identifier.isdigit() or len(identifier) > 18:
            return None
        row = (self._features().filter(id=int(identifier))
               .annotate(geojson=_geojson(crs)).values(*FEATURE_VALUES, "geojson").first())
        return feature_json(row) if row is not None else None

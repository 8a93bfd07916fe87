"""Reads of the layer registry, with the caller's access rights applied.

Every path that exposes a layer (API, pages, and later OGC services and tiles) goes through
`visible_layers`, so access levels are enforced in one place.
"""

from __future__ import annotations

import re
from typing import Any

from django.contrib.gis.geos import Polygon
from django.db.models import Count, OuterRef, QuerySet, Subquery

from accounts.access import layer_access_levels
from layers.models import Feature, Layer, LayerVersion

LAYER_CODE = re.compile(r"^[A-Za-z][A-Za-z0-9_]{0,39}$")


def allowed_access_levels(actor: Any) -> list[str]:
    """Access levels the caller may see (request, user or principal)."""
    return layer_access_levels(actor)


def visible_layers(actor: Any) -> QuerySet[Layer]:
    return Layer.objects.filter(access_level__in=allowed_access_levels(actor))


def get_visible_layer(actor: Any, code: str) -> Layer | None:
    """None both for an unknown layer and for one the user may not see (no existence leak).
    Text that cannot be a layer code (NUL bytes, 1 000 characters) never reaches SQL."""
    if not LAYER_CODE.match(code or ""):
        return None
    return visible_layers(actor).filter(code=code).first()


def published_version(layer: Layer) -> LayerVersion | None:
    return layer.versions.filter(state=LayerVersion.State.PUBLISHED).first()


def layer_summaries(actor: Any) -> list[dict[str, Any]]:
    published = LayerVersion.objects.filter(layer=OuterRef("pk"),
                                            state=LayerVersion.State.PUBLISHED)
    rows = visible_layers(actor).annotate(
        published_number=Subquery(published.values("number")[:1]),
        effective_date=Subquery(published.values("effective_date")[:1]),
        feature_count=Subquery(published.values("feature_count")[:1]),
        version_count=Count("versions"),
    )
    return [
        {
            "code": layer.code, "name_zh": layer.name_zh, "name_en": layer.name_en,
            "category": layer.category, "category_label": layer.get_category_display(),
            "published_number": layer.published_number,
            "effective_date": layer.effective_date, "feature_count": layer.feature_count,
            "color": layer.style.get("fill") or layer.style.get("stroke") or "#999999",
        }
        for layer in rows
    ]


def features_in_bbox(version: LayerVersion, bbox: tuple[float, float, float, float] | None
                     ) -> QuerySet[Feature]:
    qs = Feature.objects.filter(version=version)
    if bbox is not None:
        box = Polygon.from_bbox(bbox)
        box.srid = 4490
        qs = qs.filter(geom__intersects=box)
    return qs.order_by("feature_no")


def features_of_layer(layer: Layer) -> QuerySet[Feature]:
    return Feature.objects.filter(version__layer=layer)

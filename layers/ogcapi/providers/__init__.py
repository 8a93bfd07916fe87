"""Data providers behind OGC API collections (pygeoapi's provider pattern)."""

from __future__ import annotations

from layers.models import LayerVersion
from layers.ogcapi.providers.base import BaseProvider, Extent, Query, QueryResult
from layers.ogcapi.providers.postgis import PostGISProvider


def provider_for(version: LayerVersion) -> BaseProvider:
    """The provider serving a layer version (every layer lives in PostGIS today)."""
    return PostGISProvider(version)


def queryables() -> dict[str, str]:
    """Properties every collection can be filtered on by equality, and their kinds."""
    return dict(PostGISProvider.fields)


__all__ = ["BaseProvider", "Extent", "Query", "QueryResult", "provider_for", "queryables"]

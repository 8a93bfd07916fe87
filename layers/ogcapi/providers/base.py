"""What a collection's data source must answer (after pygeoapi's BaseProvider).

Views speak only to this interface; `postgis.PostGISProvider` is the one implementation.
"""

from __future__ import annotations

import datetime as dt
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Any

from django.contrib.gis.geos import GEOSGeometry

from layers.ogcapi.crs_uris import DEFAULT, OgcCrs
from layers.ogcapi.params import Interval


@dataclass(frozen=True)
class Query:
    bbox: GEOSGeometry | None = None  # in the storage CRS
    properties: dict[str, Any] = field(default_factory=dict)  # equality filters
    interval: Interval | None = None
    limit: int = 10
    offset: int = 0
    crs: OgcCrs = DEFAULT  # output CRS and axis order


@dataclass(frozen=True)
class QueryResult:
    number_matched: int
    features: list[dict[str, Any]]  # GeoJSON Feature objects, in a stable order


@dataclass(frozen=True)
class Extent:
    bbox_crs84: tuple[float, float, float, float] | None  # lon/lat
    start: dt.datetime | None  # validity of the data (a layer version: its effective date)
    end: dt.datetime | None = None


class BaseProvider(ABC):
    # Queryable properties and their kinds: text, int, float, bool, date.
    fields: dict[str, str]

    @abstractmethod
    def extent(self) -> Extent:
        """Spatial (CRS84) and temporal extent of the collection."""

    @abstractmethod
    def query(self, query: Query) -> QueryResult:
        """Features matching every filter of `query`, one page of them."""

    @abstractmethod
    def get(self, identifier: str, crs: OgcCrs) -> dict[str, Any] | None:
        """One feature by id, or None when the collection has no such feature."""

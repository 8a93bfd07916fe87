"""Editing one feature in place: geometry forms, measure, revision, and the signal."""

from __future__ import annotations

import numpy as np
import pytest
import shapely

from layers import services
from layers.importers.base import FeatureBatch, ImportFailed
from layers.models import Feature
from tests.conftest import SEAT_X, SEAT_Y, square, to_crs

pytestmark = pytest.mark.django_db(transaction=True)


def test_edit_recomputes_forms_bumps_revision_and_signals(polygon_layer):
    geom = to_crs([square(SEAT_X, SEAT_Y)], 4546, 4490)
    version, _ = services.import_batch(
        polygon_layer, FeatureBatch(np.asarray(geom, dtype=object), {"DKBH": ["A"]}, 4490,
                                    "test"), source_name="t", publish=True)
    feature = Feature.objects.get(version=version)
    received = []

    def receiver(**kwargs):
        received.append(kwargs)

    services.features_changed.connect(receiver)
    try:
        bigger = to_crs([square(SEAT_X, SEAT_Y, 100)], 4546, 4490)[0]
        services.edit_feature(feature.pk, geom_4490=bigger, values={"far_max": 2.0})
    finally:
        services.features_changed.disconnect(receiver)
    feature.refresh_from_db()
    version.refresh_from_db()
    assert feature.measure == pytest.approx(10_000, abs=0.01) and feature.far_max == 2.0
    assert version.revision == 1
    assert shapely.from_wkb(bytes(feature.geom_3857.wkb)).area > 10_000
    assert len(received) == 1 and received[0]["feature_ids"] == [feature.pk]
    assert received[0]["old_geoms"][0].area < received[0]["new_geoms"][0].area


def test_invalid_edit_changes_nothing(polygon_layer):
    geom = to_crs([square(SEAT_X, SEAT_Y)], 4546, 4490)
    version, _ = services.import_batch(
        polygon_layer, FeatureBatch(np.asarray(geom, dtype=object), {}, 4490, "test"),
        source_name="t", publish=True)
    feature = Feature.objects.get(version=version)
    with pytest.raises(ImportFailed):
        services.edit_feature(feature.pk, geom_4490=shapely.Point(0, 0))
    with pytest.raises(ValueError):
        services.edit_feature(feature.pk, values={"version_id": 1})
    version.refresh_from_db()
    assert version.revision == 0

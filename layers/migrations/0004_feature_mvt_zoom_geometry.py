"""Per-zoom vector-tile geometry of polygon features (tiles/mvt.py, "prepared geometry").

`geom_mvt12`..`geom_mvt14`: the feature's EPSG:3857 geometry simplified by the tile
tolerance of that zoom, snapped to the zoom's global tile-unit grid and made valid (exterior
rings clockwise), filled when a version is published. A tile of that zoom uses it for the
features lying inside its buffered extent instead of running ST_AsMVTGeom (whose validation
dominated the z12-z14 tile cost). A trigger empties the three columns whenever a row's
geometry changes, so an edited feature is never drawn from a stale copy; tiles then fall
back to ST_AsMVTGeom for it until the copy is recomputed.

Existing published polygon versions are filled here (the same statement as
tiles.mvt.prepare_sql, frozen).
"""

from django.db import migrations

H = 20037508.342789244
ZOOMS = (12, 13, 14)
SIMPLIFY_PX = 0.25


def _expr(z: int) -> str:
    unit = 2 * H / (1 << z) / 4096
    tol = SIMPLIFY_PX * 4096 / 256 * unit
    return (f"ST_ForcePolygonCW(ST_CollectionExtract(ST_MakeValid(ST_SnapToGrid("
            f"ST_Simplify(geom_3857, {tol!r}, true), {-H!r}, {-H!r}, {unit!r}, {unit!r})), 3))")


def fill_published(apps, schema_editor):
    with schema_editor.connection.cursor() as cur:
        cur.execute("SELECT v.id FROM layers_layerversion v JOIN layers_layer l "
                    "ON l.id = v.layer_id WHERE v.state = 'published' "
                    "AND l.geometry_type = 'polygon'")
        for (vid,) in cur.fetchall():
            sets = ", ".join(f"geom_mvt{z} = NULLIF({_expr(z)}, "
                             "'SRID=3857;POLYGON EMPTY'::geometry)" for z in ZOOMS)
            cur.execute(f"UPDATE layers_feature SET {sets} WHERE version_id = %s", [vid])


class Migration(migrations.Migration):

    dependencies = [
        ("layers", "0003_version_revision"),
    ]

    operations = [
        migrations.RunSQL(
            sql=[
                *(f"ALTER TABLE layers_feature ADD COLUMN geom_mvt{z} geometry(Geometry, 3857)"
                  for z in ZOOMS),
                """
                CREATE FUNCTION layers_feature_mvt_geom_reset() RETURNS trigger
                LANGUAGE plpgsql AS $$
                BEGIN
                    NEW.geom_mvt12 := NULL;
                    NEW.geom_mvt13 := NULL;
                    NEW.geom_mvt14 := NULL;
                    RETURN NEW;
                END $$
                """,
                # Any change of the tile geometry drops its prepared copies in the same
                # statement: they can never be older than geom_3857.
                "CREATE TRIGGER layers_feature_mvt_geom_reset BEFORE UPDATE OF geom_3857 "
                "ON layers_feature FOR EACH ROW WHEN (OLD.geom_3857::bytea IS DISTINCT FROM "
                "NEW.geom_3857::bytea) EXECUTE FUNCTION layers_feature_mvt_geom_reset()",
            ],
            reverse_sql=[
                "DROP TRIGGER IF EXISTS layers_feature_mvt_geom_reset ON layers_feature",
                "DROP FUNCTION IF EXISTS layers_feature_mvt_geom_reset()",
                *(f"ALTER TABLE layers_feature DROP COLUMN IF EXISTS geom_mvt{z}"
                  for z in ZOOMS),
            ],
        ),
        migrations.RunPython(fill_published, migrations.RunPython.noop),
    ]

"""Parcel numbers and land-use codes compare byte by byte (collation "C").

They are codes, not words: bytewise order is the order planners expect of them (and the
same as the code-point order of a C.UTF-8 database), equality is unchanged, prefix
searches (`parcel_no LIKE 'NX-07%'`) can use the B-tree, which no other collation allows,
and an import's index builds sort them without the locale's comparison.
"""

from django.db import migrations, models

FORWARD = """
ALTER TABLE layers_feature
    ALTER COLUMN parcel_no TYPE varchar(64) COLLATE "C",
    ALTER COLUMN land_use_code TYPE varchar(16) COLLATE "C";
"""
BACKWARD = """
ALTER TABLE layers_feature
    ALTER COLUMN parcel_no TYPE varchar(64) COLLATE "default",
    ALTER COLUMN land_use_code TYPE varchar(16) COLLATE "default";
"""


class Migration(migrations.Migration):
    dependencies = [("layers", "0004_feature_mvt_zoom_geometry")]

    operations = [
        migrations.SeparateDatabaseAndState(
            database_operations=[migrations.RunSQL(FORWARD, BACKWARD)],
            state_operations=[
                migrations.AlterField(
                    model_name="feature", name="parcel_no",
                    field=models.CharField(blank=True, db_collation="C", db_index=True,
                                           max_length=64, verbose_name="地块编号")),
                migrations.AlterField(
                    model_name="feature", name="land_use_code",
                    field=models.CharField(blank=True, db_collation="C", db_index=True,
                                           max_length=16, verbose_name="用地性质代码")),
            ]),
    ]

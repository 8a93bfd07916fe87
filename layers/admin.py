from django.contrib import admin
from django.contrib.gis.admin import GISModelAdmin

from layers.models import Feature, Layer, LayerVersion
from layers.widgets import BlueprintMapWidget


class VersionInline(admin.TabularInline):
    model = LayerVersion
    fields = ("number", "state", "effective_date", "feature_count", "source_name",
              "imported_by", "imported_at", "published_at")
    readonly_fields = fields
    extra = 0
    can_delete = False
    show_change_link = True


@admin.register(Layer)
class LayerAdmin(admin.ModelAdmin):
    list_display = ("code", "name_zh", "name_en", "category", "geometry_type", "access_level",
                    "sort_order")
    list_filter = ("category", "access_level", "geometry_type")
    search_fields = ("code", "name_zh", "name_en")
    inlines = [VersionInline]


@admin.register(LayerVersion)
class LayerVersionAdmin(GISModelAdmin):
    gis_widget = BlueprintMapWidget
    list_display = ("layer", "number", "state", "effective_date", "feature_count",
                    "imported_by", "imported_at")
    list_filter = ("state", "layer")
    readonly_fields = ("layer", "number", "source_name", "source_sha256", "source_format",
                       "source_srid", "imported_by", "imported_at", "published_at",
                       "retired_at", "feature_count", "import_report")


@admin.register(Feature)
class FeatureAdmin(GISModelAdmin):
    gis_widget = BlueprintMapWidget
    list_display = ("__str__", "version", "land_use_code", "land_use_name", "measure")
    list_filter = ("version__layer",)
    search_fields = ("parcel_no", "name", "land_use_code")
    raw_id_fields = ("version",)
    exclude = ("geom_3857",)
    list_select_related = ("version__layer",)

from django.contrib import admin
from django.contrib.gis.admin import GISModelAdmin

from approvals_link.models import ConformityRule, Project, ProjectFootprint
from layers.widgets import BlueprintMapWidget


class FootprintInline(admin.TabularInline):
    model = ProjectFootprint
    fields = ("number", "area_m2", "source_name", "created_at")
    readonly_fields = fields
    extra = 0


@admin.register(Project)
class ProjectAdmin(admin.ModelAdmin):
    list_display = ("project_code", "name", "construction_unit", "applied_land_use_code")
    search_fields = ("project_code", "name", "construction_unit")
    inlines = [FootprintInline]


@admin.register(ProjectFootprint)
class ProjectFootprintAdmin(GISModelAdmin):
    gis_widget = BlueprintMapWidget
    list_display = ("project", "number", "area_m2", "created_at")
    exclude = ("geom_3857",)


@admin.register(ConformityRule)
class ConformityRuleAdmin(admin.ModelAdmin):
    """Rules are data: parameters are checked by ConformityRule.clean() on save."""

    list_display = ("code", "name_zh", "layer", "kind", "section", "enabled", "sort_order")
    list_filter = ("kind", "section", "enabled")
    search_fields = ("code", "name_zh", "name_en", "layer__code")
    list_select_related = ("layer",)

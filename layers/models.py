"""Planning layers, their versions and features.

A layer is the stable thing external systems name (its code); a version is one delivery of
its data with an effective date; exactly one version per layer is published at a time.
Features keep their geometry in CGCS2000 (EPSG:4490) and a copy already indexed in Web
Mercator, so no tile request ever transforms a layer.
"""

from __future__ import annotations

from django.contrib.gis.db import models
from django.core.validators import RegexValidator
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

LAYER_CODE_VALIDATOR = RegexValidator(
    r"^[A-Za-z][A-Za-z0-9_]{0,39}$",
    "图层代码以字母开头，只含字母、数字和下划线 (layer code: letter, then letters/digits/_)",
)


class Layer(models.Model):
    class Category(models.TextChoices):
        CONTROL_LINE = "control_line", _("三区三线")
        OTHER_CONTROL_LINE = "other_control_line", _("其他控制线")
        REGULATORY_PLAN = "regulatory_plan", _("控制性详细规划")
        SPECIAL_PLAN = "special_plan", _("专项规划")
        BASE = "base", _("基础地理")

    class GeometryType(models.TextChoices):
        POLYGON = "polygon", _("面")
        LINE = "line", _("线")
        POINT = "point", _("点")

    class Access(models.TextChoices):
        PUBLIC = "public", _("公开")
        INTERNAL = "internal", _("内部")
        CONFIDENTIAL = "confidential", _("涉密")

    code = models.CharField(_("图层代码"), max_length=40, unique=True,
                            validators=[LAYER_CODE_VALIDATOR])
    name_zh = models.CharField(_("中文名称"), max_length=100)
    name_en = models.CharField(_("英文名称"), max_length=100)
    category = models.CharField(_("类别"), max_length=32, choices=Category.choices)
    geometry_type = models.CharField(_("几何类型"), max_length=16,
                                     choices=GeometryType.choices)
    access_level = models.CharField(_("访问级别"), max_length=16, choices=Access.choices,
                                    default=Access.PUBLIC)
    # The single source of the layer's look: Mapnik styles, legends and page colours.
    style = models.JSONField(_("样式"), default=dict, blank=True)
    description = models.TextField(_("说明"), blank=True)
    sort_order = models.IntegerField(_("排序"), default=100)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["sort_order", "code"]
        verbose_name = _("图层")
        verbose_name_plural = _("图层")
        permissions = [
            ("import_layer", "Can import layer versions"),
            ("publish_layer", "Can publish layer versions"),
            ("view_internal_layer", "Can view internal layers"),
            ("view_confidential_layer", "Can view confidential layers"),
        ]

    def __str__(self) -> str:
        return f"{self.code} {self.name_zh}"

    def name(self, lang: str = "zh") -> str:
        return self.name_en if lang.startswith("en") else self.name_zh

    def clean(self) -> None:
        from layers.styles import validate_style

        validate_style(self.style, self.geometry_type)


class LayerVersion(models.Model):
    class State(models.TextChoices):
        DRAFT = "draft", _("草稿")
        PUBLISHED = "published", _("已发布")
        RETIRED = "retired", _("已废止")

    layer = models.ForeignKey(Layer, on_delete=models.CASCADE, related_name="versions")
    number = models.PositiveIntegerField(_("版本号"))
    effective_date = models.DateField(_("生效日期"))
    state = models.CharField(_("状态"), max_length=16, choices=State.choices,
                             default=State.DRAFT)
    source_name = models.CharField(_("源文件"), max_length=255, blank=True)
    source_sha256 = models.CharField(_("源文件SHA-256"), max_length=64, blank=True)
    source_format = models.CharField(_("源格式"), max_length=16, blank=True)
    source_srid = models.IntegerField(_("源坐标系"), null=True, blank=True)
    imported_by = models.CharField(_("导入人"), max_length=150, blank=True)
    imported_at = models.DateTimeField(_("导入时间"), auto_now_add=True)
    published_at = models.DateTimeField(_("发布时间"), null=True, blank=True)
    retired_at = models.DateTimeField(_("废止时间"), null=True, blank=True)
    note = models.TextField(_("备注"), blank=True)
    import_report = models.JSONField(_("导入报告"), default=dict, blank=True)
    feature_count = models.PositiveIntegerField(_("要素数"), default=0)
    # Bumped by every feature edit: with the version number it keys tile ETags and caches.
    revision = models.PositiveIntegerField(_("修订号"), default=0)
    extent = models.PolygonField(_("范围"), srid=4490, null=True, blank=True,
                                 spatial_index=False)

    class Meta:
        ordering = ["layer", "-number"]
        verbose_name = _("图层版本")
        verbose_name_plural = _("图层版本")
        constraints = [
            models.UniqueConstraint(fields=["layer", "number"], name="layer_version_unique"),
            models.UniqueConstraint(fields=["layer"], condition=Q(state="published"),
                                    name="one_published_version_per_layer"),
        ]

    def __str__(self) -> str:
        return f"{self.layer.code} v{self.number} ({self.state})"


class Feature(models.Model):
    version = models.ForeignKey(LayerVersion, on_delete=models.CASCADE,
                                related_name="features")
    feature_no = models.PositiveIntegerField(_("源要素序号"))
    geom = models.GeometryField(srid=4490)
    # Same geometry in Web Mercator, indexed, for tiles (no per-request layer transforms).
    geom_3857 = models.GeometryField(srid=3857)
    # Area (m², polygons) or length (m, lines) in the county projected CRS.
    measure = models.FloatField(_("面积/长度"), null=True, blank=True)
    name = models.CharField(_("名称"), max_length=200, blank=True)
    parcel_no = models.CharField(_("地块编号"), max_length=64, blank=True, db_index=True,
                                 db_collation="C")  # a code: bytewise (migration 0005)
    land_use_code = models.CharField(_("用地性质代码"), max_length=16, blank=True,
                                     db_index=True, db_collation="C")
    land_use_name = models.CharField(_("用地性质名称"), max_length=100, blank=True)
    land_area_ha = models.FloatField(_("用地面积(公顷)"), null=True, blank=True)
    far_max = models.FloatField(_("容积率上限"), null=True, blank=True)
    far_min = models.FloatField(_("容积率下限"), null=True, blank=True)
    density_max = models.FloatField(_("建筑密度上限(%)"), null=True, blank=True)
    green_max = models.FloatField(_("绿地率上限(%)"), null=True, blank=True)
    green_min = models.FloatField(_("绿地率下限(%)"), null=True, blank=True)
    height_max = models.FloatField(_("建筑限高(米)"), null=True, blank=True)
    mandatory = models.BooleanField(_("是否强制性内容"), null=True, blank=True)
    approval_doc = models.CharField(_("批复文件"), max_length=200, blank=True)
    approval_date = models.DateField(_("批复日期"), null=True, blank=True)
    attributes = models.JSONField(_("其他属性"), default=dict, blank=True)

    class Meta:
        ordering = ["version", "feature_no"]
        verbose_name = _("要素")
        verbose_name_plural = _("要素")
        indexes = [models.Index(fields=["version", "feature_no"])]

    def __str__(self) -> str:
        return self.parcel_no or self.name or f"#{self.feature_no}"

"""The parcel join, conformity rules (data), check results and plan-change impacts.

Every result names the layer versions it was computed against, so it can be recomputed and
compared; areas are m² in the county projected CRS (settings.COUNTY_PROJECTED_SRID).
"""

from __future__ import annotations

from django.conf import settings
from django.contrib.gis.db import models
from django.utils.translation import gettext_lazy as _


class FootprintLink(models.Model):
    """A footprint touches a feature of a published planning layer (parcel or control line).

    Recomputed when the footprint or the layer's published version changes; keeps the
    version it was computed against. `feature_id` has no foreign key because features live
    in per-version partitions.
    """

    footprint = models.ForeignKey("approvals_link.ProjectFootprint", on_delete=models.CASCADE,
                                  related_name="links")
    layer = models.ForeignKey("layers.Layer", on_delete=models.CASCADE, related_name="+")
    version = models.ForeignKey("layers.LayerVersion", on_delete=models.CASCADE,
                                related_name="+")
    feature_id = models.BigIntegerField()
    label = models.CharField(_("地块编号/名称"), max_length=200, blank=True)
    land_use_code = models.CharField(_("用地性质代码"), max_length=16, blank=True)
    land_use_name = models.CharField(_("用地性质名称"), max_length=100, blank=True)
    overlap_m2 = models.FloatField(_("重叠面积(平方米)"))
    share = models.FloatField(_("占红线比例"))
    parcel_share = models.FloatField(_("占地块比例"), null=True, blank=True)

    class Meta:
        ordering = ["footprint", "layer__sort_order", "-overlap_m2"]
        verbose_name = _("红线关联要素")
        verbose_name_plural = _("红线关联要素")
        constraints = [models.UniqueConstraint(fields=["footprint", "version", "feature_id"],
                                               name="footprint_link_once")]


class ConformityRule(models.Model):
    """A rule attached to a layer; its parameters are data, edited in the admin."""

    class Kind(models.TextChoices):
        MUST_NOT_OCCUPY = "must_not_occupy", _("禁止占用")
        MUST_LIE_INSIDE = "must_lie_inside", _("必须位于")
        LAND_USE = "land_use", _("用地性质兼容")
        SETBACK = "setback", _("退让距离")
        INDICATORS = "indicators", _("控规指标")

    class Section(models.TextChoices):
        THREE_LINES = "three_lines", _("三线检查")
        CONTROL_LINES = "control_lines", _("其他控制线")
        SPECIAL_PLANS = "special_plans", _("专项规划")
        INDICATORS = "indicators", _("控规指标")

    code = models.SlugField(_("规则代码"), max_length=40, unique=True)
    name_zh = models.CharField(_("中文名称"), max_length=100)
    name_en = models.CharField(_("英文名称"), max_length=100)
    layer = models.ForeignKey("layers.Layer", on_delete=models.CASCADE,
                              related_name="conformity_rules", verbose_name=_("图层"))
    kind = models.CharField(_("规则类型"), max_length=20, choices=Kind.choices)
    section = models.CharField(_("报告章节"), max_length=20, choices=Section.choices)
    params = models.JSONField(_("参数"), default=dict, blank=True)
    enabled = models.BooleanField(_("启用"), default=True)
    sort_order = models.IntegerField(_("排序"), default=100)
    description = models.TextField(_("说明"), blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["sort_order", "code"]
        verbose_name = _("合规性审查规则")
        verbose_name_plural = _("合规性审查规则")

    def __str__(self) -> str:
        return f"{self.code} {self.name_zh}"

    def clean(self) -> None:
        from django.core.exceptions import ValidationError

        from approvals_link.conformity.rules import rule_param_problems
        problems = rule_param_problems(self.kind, self.params)
        if problems:
            raise ValidationError({"params": problems})


class ConformityCheck(models.Model):
    class Conclusion(models.TextChoices):
        CONFORMS = "conforms", _("符合")
        CONFLICTS = "conflicts", _("不符合")

    class Trigger(models.TextChoices):
        MANUAL = "manual", _("人工发起")
        FOOTPRINT = "footprint", _("红线更新")
        PLAN_CHANGE = "plan_change", _("规划变更")
        DEMO = "demo", _("演示数据")

    project = models.ForeignKey("approvals_link.Project", on_delete=models.CASCADE,
                                related_name="checks")
    footprint = models.ForeignKey("approvals_link.ProjectFootprint", on_delete=models.CASCADE,
                                  related_name="checks")
    conclusion = models.CharField(_("审查结论"), max_length=16, choices=Conclusion.choices)
    tolerance_m2 = models.FloatField(_("碎片容差(平方米)"))
    footprint_area_m2 = models.FloatField(_("用地面积(平方米)"))
    layer_versions = models.JSONField(_("图层版本"), default=dict)
    summary = models.JSONField(_("摘要"), default=dict)
    trigger = models.CharField(_("发起方式"), max_length=16, choices=Trigger.choices,
                               default=Trigger.MANUAL)
    requested_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL,
                                     null=True, blank=True, related_name="+")
    created_at = models.DateTimeField(_("审查时间"), auto_now_add=True)
    duration_ms = models.FloatField(_("耗时(毫秒)"), default=0)
    signed_off_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL,
                                      null=True, blank=True, related_name="+",
                                      verbose_name=_("签发人"))
    signed_off_at = models.DateTimeField(_("签发时间"), null=True, blank=True)
    sign_off_note = models.TextField(_("签发意见"), blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name = _("合规性审查")
        verbose_name_plural = _("合规性审查")
        indexes = [models.Index(fields=["project", "-created_at"])]

    def __str__(self) -> str:
        return f"#{self.pk} {self.project_id} {self.conclusion}"


class RuleResult(models.Model):
    class Status(models.TextChoices):
        PASS = "pass", _("通过")
        FAIL = "fail", _("不通过")
        NOT_APPLICABLE = "not_applicable", _("不适用")

    conformity_check = models.ForeignKey(ConformityCheck, on_delete=models.CASCADE,
                                         related_name="results")
    rule = models.ForeignKey(ConformityRule, on_delete=models.SET_NULL, null=True, blank=True,
                             related_name="+")
    # A snapshot of the rule as it was applied: results outlive edits of the rule.
    rule_code = models.CharField(max_length=40)
    rule_name = models.CharField(max_length=100)
    kind = models.CharField(max_length=20, choices=ConformityRule.Kind.choices)
    section = models.CharField(max_length=20, choices=ConformityRule.Section.choices)
    params = models.JSONField(default=dict)
    layer_code = models.CharField(max_length=40)
    layer_name = models.CharField(max_length=100)
    layer_version = models.ForeignKey("layers.LayerVersion", on_delete=models.SET_NULL,
                                      null=True, blank=True, related_name="+")
    layer_version_number = models.PositiveIntegerField(null=True, blank=True)
    status = models.CharField(_("结果"), max_length=16, choices=Status.choices)
    area_m2 = models.FloatField(_("冲突面积(平方米)"), default=0)
    sliver_area_m2 = models.FloatField(_("容差内面积(平方米)"), default=0)
    feature_count = models.PositiveIntegerField(_("涉及要素数"), default=0)
    features = models.JSONField(_("涉及要素"), default=list)
    details = models.JSONField(_("说明"), default=dict)
    geom = models.MultiPolygonField(_("冲突范围"), srid=4490, null=True, blank=True)

    class Meta:
        ordering = ["conformity_check", "id"]
        verbose_name = _("规则审查结果")
        verbose_name_plural = _("规则审查结果")


class PlanChangeImpact(models.Model):
    """A published plan version changed a project's conclusion (or its conflicts)."""

    version = models.ForeignKey("layers.LayerVersion", on_delete=models.CASCADE,
                                related_name="conformity_impacts")
    previous_version = models.ForeignKey("layers.LayerVersion", on_delete=models.SET_NULL,
                                         null=True, blank=True, related_name="+")
    project = models.ForeignKey("approvals_link.Project", on_delete=models.CASCADE,
                                related_name="plan_impacts")
    previous_check = models.ForeignKey(ConformityCheck, on_delete=models.SET_NULL, null=True,
                                       related_name="+")
    new_check = models.ForeignKey(ConformityCheck, on_delete=models.CASCADE, related_name="+")
    previous_conclusion = models.CharField(max_length=16, blank=True)
    new_conclusion = models.CharField(max_length=16)
    difference = models.JSONField(default=list)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "project"]
        verbose_name = _("规划变更影响")
        verbose_name_plural = _("规划变更影响")

"""Construction projects from the approval system and their red-line footprints.

Field names follow the national data-exchange standard (SPGL_XMJBXXB) in db_column so an
exchange row maps one to one; code uses readable names.
"""

from __future__ import annotations

from django.contrib.gis.db import models
from django.utils.translation import gettext_lazy as _


class Project(models.Model):
    project_code = models.CharField(_("项目代码"), max_length=32, unique=True, db_column="xmdm")
    name = models.CharField(_("项目名称"), max_length=200, db_column="xmmc")
    construction_unit = models.CharField(_("建设单位"), max_length=200, blank=True,
                                         db_column="jsdw")
    construction_unit_credit_code = models.CharField(_("统一社会信用代码"), max_length=18,
                                                     blank=True, db_column="jsdwtyshxydm")
    flow_type = models.CharField(_("审批流程类型"), max_length=4, blank=True, db_column="splclx")
    division_code = models.CharField(_("行政区划代码"), max_length=6, default="411325",
                                     db_column="xzqhdm")
    applied_land_use_code = models.CharField(_("申请用地性质"), max_length=16, blank=True)
    proposed_far = models.FloatField(_("拟建容积率"), null=True, blank=True)
    proposed_density = models.FloatField(_("拟建建筑密度(%)"), null=True, blank=True)
    proposed_green_ratio = models.FloatField(_("拟建绿地率(%)"), null=True, blank=True)
    proposed_height = models.FloatField(_("拟建建筑高度(米)"), null=True, blank=True)
    # Data permissions: reviewers see the projects their department handles; applicants
    # see the projects of their own organisation (matched by credit code).
    handling_departments = models.ManyToManyField("accounts.Department", blank=True,
                                                  related_name="projects",
                                                  verbose_name=_("经办部门"))
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["project_code"]
        verbose_name = _("项目")
        verbose_name_plural = _("项目")

    def __str__(self) -> str:
        return f"{self.project_code} {self.name}"


class ProjectFootprint(models.Model):
    """One version of a project's red line (用地红线); the newest is current."""

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="footprints")
    number = models.PositiveIntegerField(_("版本号"))
    geom = models.MultiPolygonField(srid=4490)
    geom_3857 = models.MultiPolygonField(srid=3857)
    area_m2 = models.FloatField(_("用地面积(平方米)"))
    source_name = models.CharField(_("源文件"), max_length=255, blank=True)
    source_format = models.CharField(_("源格式"), max_length=16, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["project", "-number"]
        verbose_name = _("项目红线")
        verbose_name_plural = _("项目红线")
        constraints = [models.UniqueConstraint(fields=["project", "number"],
                                               name="footprint_version_unique")]

    def __str__(self) -> str:
        return f"{self.project.project_code} 红线 v{self.number}"

"""Approval records: projects, their approval-item events and their red-line footprints.

Field names follow the national data-exchange standard in db_column (SPGL_XMJBXXB project,
SPGL_XMSPSXBLXXB item handling, SPGL_XMYDHXJZXXB red-line boundary files), so an exchange
row maps one to one; code uses readable names. `local_key` is the standard's DFSJZJ (the
sending system's primary key of the row): intake upserts by it, so a repeated push changes
nothing, and `source_updated_at` (SJGXSJ) orders pushes so a late, older row never
overwrites a newer one.
"""

from __future__ import annotations

from django.contrib.gis.db import models
from django.utils.translation import gettext_lazy as _

from approvals_link.codes import FlowType, ItemStatus, LandAcquisition, ProjectType, Stage


class Project(models.Model):
    project_code = models.CharField(_("项目代码"), max_length=32, unique=True, db_column="xmdm")
    local_key = models.CharField(_("地方数据主键"), max_length=64, unique=True, null=True,
                                 blank=True, db_column="dfsjzj")
    name = models.CharField(_("项目名称"), max_length=200, db_column="xmmc")
    construction_unit = models.CharField(_("建设单位"), max_length=200, blank=True,
                                         db_column="jsdw")
    construction_unit_credit_code = models.CharField(_("统一社会信用代码"), max_length=18,
                                                     blank=True, db_column="jsdwtyshxydm")
    flow_type = models.CharField(_("审批流程类型"), max_length=4, blank=True, db_column="splclx",
                                 choices=FlowType.choices)
    division_code = models.CharField(_("行政区划代码"), max_length=6, default="411325",
                                     db_column="xzqhdm")
    investment_wan = models.DecimalField(_("总投资额(万元)"), max_digits=16, decimal_places=4,
                                         null=True, blank=True, db_column="ztze")
    land_acquisition = models.CharField(_("土地获取方式"), max_length=2, blank=True,
                                        choices=LandAcquisition.choices, db_column="tdhqfs")
    declared_land_area_m2 = models.FloatField(_("申报用地面积(平方米)"), null=True, blank=True,
                                              db_column="ydmj")
    building_area_m2 = models.FloatField(_("建筑面积(平方米)"), null=True, blank=True,
                                         db_column="jzmj")
    location = models.CharField(_("建设地点"), max_length=200, blank=True, db_column="jsdd")
    project_type = models.CharField(_("建设项目类型"), max_length=20, blank=True,
                                    choices=ProjectType.choices)
    applied_land_use_code = models.CharField(_("申请用地性质"), max_length=16, blank=True)
    proposed_far = models.FloatField(_("拟建容积率"), null=True, blank=True)
    proposed_density = models.FloatField(_("拟建建筑密度(%)"), null=True, blank=True)
    proposed_green_ratio = models.FloatField(_("拟建绿地率(%)"), null=True, blank=True)
    proposed_height = models.FloatField(_("拟建建筑高度(米)"), null=True, blank=True)
    is_valid = models.BooleanField(_("数据有效标识"), default=True, db_column="sjyxbs")
    invalid_reason = models.CharField(_("数据无效原因"), max_length=200, blank=True,
                                      db_column="sjwxyy")
    source_updated_at = models.DateTimeField(_("数据更新时间"), null=True, blank=True,
                                             db_column="sjgxsj")
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

    @property
    def effective_project_type(self) -> str:
        from approvals_link.codes import project_type_for_land_use
        return self.project_type or project_type_for_land_use(self.applied_land_use_code)

    @property
    def current_footprint(self) -> ProjectFootprint | None:
        return self.footprints.order_by("-number").first()


class ApprovalItemEvent(models.Model):
    """One row of SPGL_XMSPSXBLXXB: an approval item instance reached a status at a time.

    The events of one item instance (SPSXSLBM) make its handling history; the approval
    timeline and the durations are read from them.
    """

    local_key = models.CharField(_("地方数据主键"), max_length=64, unique=True,
                                 db_column="dfsjzj")
    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="item_events")
    stage = models.PositiveSmallIntegerField(_("审批阶段"), choices=Stage.choices,
                                             db_column="dybzspjdxh")
    item_code = models.CharField(_("审批事项编码"), max_length=64, db_column="spsxbm")
    item_name = models.CharField(_("审批事项名称"), max_length=200, db_column="spsxmc")
    instance_code = models.CharField(_("审批事项实例编码"), max_length=64, db_column="spsxslbm",
                                     db_index=True)
    department_code = models.CharField(_("审批部门编码"), max_length=64, blank=True,
                                       db_column="spbmbm")
    department_name = models.CharField(_("审批部门名称"), max_length=200, blank=True,
                                       db_column="spbmmc")
    status = models.CharField(_("办理状态"), max_length=2, choices=ItemStatus.choices,
                              db_column="blzt")
    handled_at = models.DateTimeField(_("办理时间"), db_column="blsj")
    opinion = models.TextField(_("办理意见"), blank=True, db_column="blyj")
    time_limit_days = models.PositiveSmallIntegerField(_("承诺时限(工作日)"), null=True,
                                                       blank=True, db_column="cnsx")
    source_updated_at = models.DateTimeField(_("数据更新时间"), db_column="sjgxsj")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["project", "handled_at", "id"]
        verbose_name = _("审批事项办理记录")
        verbose_name_plural = _("审批事项办理记录")
        indexes = [models.Index(fields=["project", "stage", "handled_at"])]

    def __str__(self) -> str:
        return f"{self.project.project_code} {self.item_name} {self.get_status_display()}"


class ProjectFootprint(models.Model):
    """One red-line boundary file of a project (SPGL_XMYDHXJZXXB); the highest file number
    (JZWJXH) is the current footprint."""

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="footprints")
    number = models.PositiveIntegerField(_("界址文件序号"), db_column="jzwjxh")
    local_key = models.CharField(_("地方数据主键"), max_length=64, unique=True, null=True,
                                 blank=True, db_column="dfsjzj")
    description = models.CharField(_("界址文件说明"), max_length=500, blank=True,
                                   db_column="jzwjsm")
    document = models.ForeignKey("approvals_link.ProjectDocument", on_delete=models.SET_NULL,
                                 null=True, blank=True, related_name="+",
                                 verbose_name=_("界址文件附件"), db_column="jzwjfj")
    geom = models.MultiPolygonField(srid=4490)
    geom_3857 = models.MultiPolygonField(srid=3857)
    area_m2 = models.FloatField(_("用地面积(平方米)"))
    source_name = models.CharField(_("界址文件名称"), max_length=255, blank=True,
                                   db_column="jzwjmc")
    source_format = models.CharField(_("源格式"), max_length=16, blank=True)
    source_srid = models.IntegerField(_("源坐标系"), null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["project", "-number"]
        verbose_name = _("项目红线")
        verbose_name_plural = _("项目红线")
        constraints = [models.UniqueConstraint(fields=["project", "number"],
                                               name="footprint_version_unique")]

    def __str__(self) -> str:
        return f"{self.project.project_code} 红线 #{self.number}"

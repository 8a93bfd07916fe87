"""Intake of approval records pushed by the county approval system.

Two ways in, both for the external-system account with a token of scope
``approvals:write`` (function ``approvals.write``):

* ``POST /api/intake/records`` -- rows of the national data-exchange standard
  (工程建设项目审批管理系统数据共享交换标准), ``{"records": [{"table": ..., "data": {...}}]}``:

  - ``SPGL_XMJBXXB`` project basic information: DFSJZJ, XZQHDM, XMDM, XMMC, JSDW,
    JSDWTYSHXYDM, SPLCLX, ZTZE, TDHQFS, YDMJ, JZMJ, JSDD, SJYXBS, SJWXYY, SJGXSJ, and our
    extension fields for the conformity check (not in the standard; the sending system
    fills them from its application form):

      ========  ===========================  ========================================
      XMLX      project_type                 ProjectType value (residential, ...)
      SQYDXZ    applied_land_use_code        用地用海分类 code, e.g. 0701
      NJRJL     proposed_far                 拟建容积率
      NJJZMD    proposed_density             拟建建筑密度 (%)
      NJLDL     proposed_green_ratio         拟建绿地率 (%)
      NJJZGD    proposed_height              拟建建筑高度 (m)
      ========  ===========================  ========================================

  - ``SPGL_XMSPSXBLXXB`` approval-item handling events: DFSJZJ, XMDM, (XZQHDM),
    DYBZSPJDXH, SPSXBM, SPSXMC, SPSXSLBM, SPBMBM, SPBMMC, BLZT, BLSJ, BLYJ, CNSX, SJGXSJ.

  Upserted by DFSJZJ; SJGXSJ orders pushes (see ``services``).

* ``POST /api/projects/<project_code>/boundary-files`` -- a red-line boundary file
  (SPGL_XMYDHXJZXXB: JZWJXH, JZWJMC, JZWJSM, DFSJZJ) in any format the importers read.
"""

from django.urls import path

from approvals_link.conformity import api

urlpatterns = [
    path("conformity-checks", api.ConformityChecks.as_view(), name="conformity-checks"),
    path("conformity-checks/<int:check_id>", api.ConformityCheckDetail.as_view(),
         name="conformity-check"),
    path("plan-impacts", api.PlanImpacts.as_view(), name="plan-impacts"),
]

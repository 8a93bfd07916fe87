from django.apps import AppConfig


class ApprovalsLinkConfig(AppConfig):
    name = "approvals_link"
    verbose_name = "审批项目 (approval projects)"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from approvals_link.conformity import receivers  # noqa: F401  (connects receivers)

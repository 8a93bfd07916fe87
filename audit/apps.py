from django.apps import AppConfig


class AuditConfig(AppConfig):
    name = "audit"
    verbose_name = "安全审计 (audit trail)"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from audit import checks, signals  # noqa: F401 - registers receivers and checks

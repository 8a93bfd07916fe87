from django.apps import AppConfig


class AuditConfig(AppConfig):
    name = "audit"
    verbose_name = "安全审计 (audit trail)"
    default_auto_field = "django.db.models.BigAutoField"

from django.apps import AppConfig


class OpsConfig(AppConfig):
    name = "ops"
    verbose_name = "运行监控 (operations)"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from ops import errors

        errors.install_handler()

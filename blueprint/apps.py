from django.apps import AppConfig


class BlueprintConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "blueprint"
    verbose_name = "一张蓝图 (blueprint page)"

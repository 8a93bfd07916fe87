from django.apps import AppConfig


class LayersConfig(AppConfig):
    name = "layers"
    verbose_name = "规划图层 (planning layers)"
    default_auto_field = "django.db.models.BigAutoField"

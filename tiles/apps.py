from django.apps import AppConfig


class TilesConfig(AppConfig):
    name = "tiles"
    verbose_name = "地图服务 (map services)"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from tiles import invalidation  # noqa: F401 - connects the signal receivers

from django.apps import AppConfig


class TilesConfig(AppConfig):
    name = "tiles"
    verbose_name = "地图服务 (map services)"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from ops import readiness
        from tiles.services import ready_check

        readiness.register("wms_wmts", ready_check)
        # Connect the signal receivers (raster caches; vector-tile cache).
        from tiles import invalidation, mvt_cache  # noqa: F401

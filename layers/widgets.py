"""Map widget for the GeoDjango admin that works offline, centred on Neixiang."""

from django.contrib.gis.forms.widgets import OSMWidget


class BlueprintMapWidget(OSMWidget):
    template_name = "gis/blueprint-widget.html"
    default_lon = 111.85
    default_lat = 33.05
    default_zoom = 11

    class Media:
        extend = False  # the parent's Media loads OpenLayers from a CDN
        css = {"all": ("vendor/ol/ol.css", "gis/css/ol3.css")}
        js = ("vendor/ol/ol.js", "gis/js/OLMapWidget.js")

"""OGC API - Features (Part 1 Core, GeoJSON, HTML, OpenAPI 3.0; Part 2 CRS) over the layers.

Modelled on pygeoapi: views (`views.py`) parse the request (`params.py`), ask a provider
(`providers/`, one PostGIS provider behind an interface) for data, and hand a document
(`documents.py`) to an encoder (`encoders.py`: JSON/GeoJSON or a Chinese HTML page).
A collection is a layer's published version; visibility follows `layers.selectors`, so a
layer the caller may not see is a 404 on every path.
"""

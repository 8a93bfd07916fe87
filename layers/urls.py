from django.urls import path

from layers import api

urlpatterns = [
    path("layers", api.LayerList.as_view(), name="layer-list"),
    path("layers/<str:code>", api.LayerDetail.as_view(), name="layer-detail"),
    path("layers/<str:code>/versions", api.LayerVersions.as_view(), name="layer-versions"),
    path("layers/<str:code>/versions/<int:number>/publish", api.PublishVersion.as_view(),
         name="layer-version-publish"),
    path("layers/<str:code>/features", api.LayerFeatures.as_view(), name="layer-features"),
    path("layers/<str:code>/features/<int:feature_id>", api.LayerFeature.as_view(),
         name="layer-feature"),
]

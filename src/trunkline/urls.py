from django.contrib import admin
from django.urls import include, path

from trunkline.core.api import api

urlpatterns = [
    path("v1/", api.urls),
    path("admin/", admin.site.urls),
    path("", include("trunkline.accounts.urls")),
    path("", include("trunkline.branding.urls")),
    path("", include("trunkline.portal.urls")),
]

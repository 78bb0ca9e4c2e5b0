from django.urls import path

from trunkline.branding import views

urlpatterns = [
    path("settings/account/logo", views.logo_upload_view, name="settings-logo"),
    path("settings/account/logo/remove", views.logo_remove_view),
    path("settings/account/logo.png", views.logo_image_view, name="settings-logo-image"),
]

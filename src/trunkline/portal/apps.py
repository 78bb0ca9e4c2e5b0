from django.apps import AppConfig


class PortalConfig(AppConfig):
    name = "trunkline.portal"
    label = "portal"

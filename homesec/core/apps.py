from django.apps import AppConfig


class CoreConfig(AppConfig):
    name = "homesec.core"
    label = "core"
    verbose_name = "homesec core"

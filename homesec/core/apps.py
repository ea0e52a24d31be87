from django.apps import AppConfig


class CoreConfig(AppConfig):
    name = "homesec.core"
    label = "core"
    verbose_name = "homesec core"

    def ready(self) -> None:
        from homesec.core import checks  # noqa: F401 - registers the system checks

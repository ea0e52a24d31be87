from typing import Any

from django.apps import AppConfig


class CoreConfig(AppConfig):
    name = "homesec.core"
    label = "core"
    verbose_name = "homesec core"

    def ready(self) -> None:
        from django.db.models.signals import post_migrate

        from homesec.core import checks  # noqa: F401 - registers the system checks

        post_migrate.connect(_role_groups, dispatch_uid="core.role_groups")


def _role_groups(sender: AppConfig, **kwargs: Any) -> None:
    """After every migrate: permissions of models added since belong to the roles too. Only
    at the last app's turn: each app's permissions exist once its own turn has come."""
    from django.apps import apps

    if sender is [config for config in apps.get_app_configs() if config.models_module][-1]:
        from homesec.core.services import role_groups_sync

        role_groups_sync()

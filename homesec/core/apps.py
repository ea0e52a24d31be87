from django.apps import AppConfig


class CoreConfig(AppConfig):
    name = "homesec.core"
    label = "core"
    verbose_name = "homesec core"

    def ready(self) -> None:
        from django.db.models.signals import post_migrate

        from homesec.core import checks  # noqa: F401 - registers the system checks

        # For every app's turn: each app's permissions exist only once its own turn came.
        post_migrate.connect(_role_groups, dispatch_uid="core.role_groups")


def _role_groups(sender, **kwargs) -> None:
    """After every migrate: permissions of models added since belong to the roles too."""
    from homesec.core.services import role_groups_sync

    role_groups_sync()

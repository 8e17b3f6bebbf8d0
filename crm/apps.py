from django.apps import AppConfig
from django.db.models.signals import post_migrate


class CrmConfig(AppConfig):
    name = "crm"
    verbose_name = "Leadline"

    def ready(self):
        from crm import checks  # noqa: F401 (registers the signing-key check)
        from crm.roles import roles_sync_after_migrate

        post_migrate.connect(roles_sync_after_migrate, dispatch_uid="crm.roles_sync")

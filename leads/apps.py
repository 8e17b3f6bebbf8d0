from django.apps import AppConfig


class LeadsConfig(AppConfig):
    name = "leads"
    verbose_name = "Leads"

    def ready(self):
        from django.db.models.signals import post_migrate

        from leads.scoring import scoring_factors_after_migrate

        # The rules' scoring factors exist after every migrate (and every test flush).
        post_migrate.connect(scoring_factors_after_migrate, dispatch_uid="leads.scoring_factors")
        from leads import (
            sources,  # noqa: F401 (connects the source cache's signal handlers)
            tasks,  # noqa: F401 (registers the tasks intake queues by name)
        )
        from leads.voice import checks  # noqa: F401 (registers the voice checks)

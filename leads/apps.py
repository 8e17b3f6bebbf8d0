from django.apps import AppConfig


class LeadsConfig(AppConfig):
    name = "leads"
    verbose_name = "Leads"

    def ready(self):
        from leads import (
            sources,  # noqa: F401 (connects the source cache's signal handlers)
            tasks,  # noqa: F401 (registers the tasks intake queues by name)
        )

from django.apps import AppConfig


class ConfigConfig(AppConfig):
    """Project-wide pieces that belong to no domain app: health, serving, error mapping."""

    name = "config"
    verbose_name = "Tessera"

    def ready(self) -> None:
        from config import tasks  # noqa: F401 - connects the outbox's task_postrun receiver

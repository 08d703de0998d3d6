from django.apps import AppConfig


class PersonalizationConfig(AppConfig):
    name = "personalization"
    verbose_name = "Personalization"

    def ready(self) -> None:
        from . import checks  # noqa: F401 (registers the system checks)

from django.apps import AppConfig


class QosConfig(AppConfig):
    name = "qos"
    verbose_name = "Storage QoS"

    def ready(self) -> None:
        from . import checks  # noqa: F401  (registers the system checks)

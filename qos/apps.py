from django.apps import AppConfig


class QosConfig(AppConfig):
    name = "qos"
    verbose_name = "Storage QoS"

from django.db import models


class Role(models.TextChoices):
    """The portal's roles; each is a Django group of the same name."""

    MEMBER = "member", "Member"
    LIAISON = "liaison", "Experiment liaison"
    COORDINATOR = "coordinator", "Coordinator"
    QOS_ADMIN = "qos-admin", "QoS admin"

from django.contrib import admin

from common.admin import ReadOnlyAdmin

from .models import StorageQoSClass, StorageQoSClassRevision


@admin.register(StorageQoSClass)
class StorageQoSClassAdmin(ReadOnlyAdmin):
    list_display = ["label", "title", "status", "storage_media", "access_latency", "revision", "updated_at"]
    list_filter = ["status", "storage_media", "access_latency"]
    search_fields = ["label", "title"]


@admin.register(StorageQoSClassRevision)
class StorageQoSClassRevisionAdmin(ReadOnlyAdmin):
    list_display = ["qos_class", "number", "kind", "status", "author", "created_at"]
    list_filter = ["kind"]
    list_select_related = ["qos_class", "author"]


# RucioInstance is deliberately not registered: where an instance connects, and with which credentials, is the
# deployment's environment (qos/rucio_config.py). An admin page that could change a host would let whoever
# holds it have the portal send an instance's credentials to a server of their choosing.

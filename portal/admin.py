"""Django's admin (/admin/) is for the portal's superusers only (``manage.py createsuperuser``).

It edits accounts and their roles (groups), experiments and their liaisons, meetings and people directly, past
the rules the pages and the API keep (who may edit what; the catalogue and the requirements are read-only in
it). Django would let in every active staff account; the portal lets in only active superusers.
"""

from django.contrib import admin
from django.http import HttpRequest


def superusers_only(request: HttpRequest) -> bool:
    """Whether the request may use the admin site: an active superuser's."""
    return request.user.is_active and request.user.is_superuser


admin.site.has_permission = superusers_only
admin.site.site_header = "ESCAPE QoS portal admin (superusers)"
admin.site.site_title = "ESCAPE QoS portal admin"

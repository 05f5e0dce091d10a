from django.urls import path

from common.urls import model_paths

from . import views

app_name = "meetings"

urlpatterns = [
    *model_paths("meetings/", "<int:pk>", views, "meeting"),
    path("meetings/series/new/", views.series_create, name="series-create"),
    path("meetings/series/<slug:slug>/calendar.ics", views.series_calendar, name="series-calendar"),
    path("meetings/time-zone/", views.set_time_zone, name="set-time-zone"),
    path("meetings/<int:pk>/next/", views.meeting_next, name="meeting-next"),
    path("meetings/<int:pk>/carry-over/", views.meeting_carry_over, name="meeting-carry-over"),
    path("meetings/<int:pk>/minutes/", views.minutes_edit, name="minutes-edit"),
    path("meetings/<int:pk>/timetable/", views.timetable_edit, name="timetable-edit"),
    path("meetings/<int:pk>/indico/", views.indico_import, name="indico-import"),
    path("meetings/<int:pk>/attachments/new/", views.attachment_add, name="attachment-add"),
    path("meetings/<int:pk>/print/", views.meeting_print, name="meeting-print"),
    path("meetings/<int:pk>/minutes.md", views.meeting_markdown, name="meeting-markdown"),
    path("meetings/attachments/<int:pk>/", views.attachment_download, name="attachment-download"),
    *model_paths("actions/", "<int:pk>", views, "action"),
    *model_paths("people/", "<int:pk>", views, "person"),
    path("people/<int:pk>/actions.ics", views.person_calendar, name="person-calendar"),
    path("people/<int:pk>/calendar-address/", views.person_calendar_address, name="person-calendar-address"),
    path("calendar/<str:token>.ics", views.calendar_feed, name="calendar-feed"),
]

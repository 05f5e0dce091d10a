"""Meetings start between 2000 and 2199, on the pages and in the API alike (one rule: meetings.models.MEETING_YEARS).

Far-off years are no meeting of the task group, and some cannot even be shown: before 1894 Zurich kept local mean
time, and late 9999 overflows. A refused year says so next to the field, keeps what was typed, changes nothing.
"""

import pytest

from meetings.models import MEETING_YEARS, Meeting
from tests.meetings.meeting_factories import make_meeting, make_series, zurich

pytestmark = pytest.mark.django_db

MESSAGE = "A meeting starts between 2000 and 2199."
REFUSED_DATES = ["1999-12-31", "2200-01-01", "0001-01-01", "9999-12-31", "1139-07-30"]


@pytest.fixture
def series():
    return make_series()


@pytest.fixture
def meeting(series):
    return make_meeting(series, zurich(2026, 3, 18))


def form(series, date: str) -> dict:
    return {
        "series": series.pk,
        "title": "Far-off meeting",
        "date": date,
        "time": "14:00",
        "time_zone": "Europe/Zurich",
        "duration_minutes": "60",
        "location": "Vidyo",
    }


def test_the_years_are_those_the_api_has_always_allowed():
    assert (MEETING_YEARS.start, MEETING_YEARS.stop - 1) == (2000, 2199)


@pytest.mark.parametrize("date", REFUSED_DATES)
def test_the_meeting_form_refuses_a_far_off_year_and_keeps_what_was_typed(
    client_for, coordinator, series, date
):
    response = client_for(coordinator).post("/meetings/new/", form(series, date))
    assert response.status_code == 200
    assert response.context["form"].errors == {"date": [MESSAGE]}
    assert 'value="Far-off meeting"' in response.content.decode()
    assert not Meeting.objects.exists()


@pytest.mark.parametrize("date", ["2000-01-01", "2199-12-31"])
def test_the_first_and_last_years_are_accepted_on_the_page(client_for, coordinator, series, date):
    assert client_for(coordinator).post("/meetings/new/", form(series, date)).status_code == 302
    assert Meeting.objects.get().local_date.isoformat() == date


def test_a_meeting_cannot_be_moved_to_a_far_off_year(client_for, coordinator, series, meeting):
    response = client_for(coordinator).post(f"/meetings/{meeting.pk}/edit/", form(series, "2200-03-18"))
    assert response.context["form"].errors == {"date": [MESSAGE]}
    meeting.refresh_from_db()
    assert meeting.starts_at == zurich(2026, 3, 18)


def test_the_next_meeting_page_refuses_a_far_off_year(client_for, coordinator, meeting):
    response = client_for(coordinator).post(
        f"/meetings/{meeting.pk}/next/", {"date": "2200-04-01", "time": "14:00", "time_zone": "Europe/Zurich"}
    )
    assert response.context["form"].errors == {"date": [MESSAGE]}
    assert Meeting.objects.count() == 1


def test_the_next_meeting_of_the_last_year_cannot_fall_after_it(client_for, api_for, coordinator, series):
    last = make_meeting(series, zurich(2199, 12, 25))
    # The proposal (two weeks on, 2200-01-08) is refused on the page and in the API with the same words.
    response = client_for(coordinator).post(
        f"/meetings/{last.pk}/next/", {"date": "2200-01-08", "time": "14:00", "time_zone": "Europe/Zurich"}
    )
    assert response.context["form"].errors == {"date": [MESSAGE]}
    answer = api_for(coordinator).post(f"/api/v1/meetings/{last.pk}/next/", {}, format="json")
    assert answer.status_code == 409
    assert answer.json() == {"detail": MESSAGE, "code": "conflict"}
    assert Meeting.objects.count() == 1


@pytest.mark.parametrize(
    ("starts_at", "accepted"),
    [
        ("1999-12-31T12:00:00Z", False),
        ("2000-01-01T12:00:00Z", True),
        ("2199-12-31T12:00:00Z", True),
        ("2200-01-01T12:00:00Z", False),
    ],
)
def test_the_api_draws_the_same_line_with_the_same_words(api_for, coordinator, series, starts_at, accepted):
    response = api_for(coordinator).post(
        "/api/v1/meetings/", {"series": series.slug, "title": "x", "starts_at": starts_at}, format="json"
    )
    if accepted:
        assert response.status_code == 201, response.content
    else:
        assert response.status_code == 400
        assert response.json() == {"starts_at": [MESSAGE]}
        assert not Meeting.objects.exists()

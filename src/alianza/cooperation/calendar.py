"""Meetings as iCalendar, so the teams can put them in Outlook or any calendar client."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

from icalendar import Calendar, Event

from alianza.cooperation.models import Meeting
from alianza.i18n import Lang


def meetings_ical(meetings: Sequence[Meeting], lang: Lang, node_name: str) -> bytes:
    """All-day events (the public record gives dates, not times), with the agenda as the description."""
    cal = Calendar()
    cal.add("prodid", "-//Alianza//Follow-up mechanism//EN")
    cal.add("version", "2.0")
    cal.add("x-wr-calname", node_name)
    for meeting in meetings:
        event = Event()
        event.add("uid", f"meeting-{meeting.id}@alianza")
        event.add("summary", meeting.title_es if lang == "es" else meeting.title_en)
        event.add("dtstart", meeting.date)
        event.add("dtend", meeting.date + dt.timedelta(days=1))
        event.add("dtstamp", dt.datetime.combine(meeting.date, dt.time(), tzinfo=dt.UTC))
        event.add("location", meeting.place)
        agenda = meeting.agenda_es if lang == "es" else meeting.agenda_en
        if agenda:
            event.add("description", agenda)
        if meeting.next_meeting_date:
            event.add("x-alianza-next-meeting", meeting.next_meeting_date.isoformat())
        cal.add_component(event)
    return bytes(cal.to_ical())

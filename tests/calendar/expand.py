"""Reads an iCalendar feed with Python's icalendar and expands it with
recurring_ical_events, independently of the Rust crate that wrote it.

usage: expand.py FEED.ics FROM TO   (FROM/TO: ISO 8601 instants in UTC)
Prints one JSON object per event occurring in [FROM, TO), by start: uid,
summary, description, start and end as UTC ISO 8601, the zone the start was
written in, sequence, status and attendees."""

import json
import sys
from datetime import datetime, timezone

import icalendar
import recurring_ical_events


def utc(value):
    if value.tzinfo is None:
        raise SystemExit(f"floating time {value!r} in the feed")
    return value.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def main():
    path, start, end = sys.argv[1:4]
    with open(path, "rb") as f:
        calendar = icalendar.Calendar.from_ical(f.read())
    begin = datetime.fromisoformat(start.replace("Z", "+00:00"))
    until = datetime.fromisoformat(end.replace("Z", "+00:00"))
    events = recurring_ical_events.of(calendar).between(begin, until)
    out = []
    for e in events:
        dtstart = e["DTSTART"]
        attendees = e.get("ATTENDEE", [])
        if not isinstance(attendees, list):
            attendees = [attendees]
        out.append({
            "uid": str(e["UID"]),
            "summary": str(e["SUMMARY"]),
            "description": str(e.get("DESCRIPTION", "")),
            "start": utc(dtstart.dt),
            "end": utc(e["DTEND"].dt),
            "tzid": dtstart.params.get("TZID", "UTC"),
            "sequence": int(e.get("SEQUENCE", 0)),
            "status": str(e.get("STATUS", "")),
            "attendees": sorted(
                f'{a.params.get("CN", "")} {str(a)}' for a in attendees
            ),
        })
    out.sort(key=lambda x: (x["start"], x["uid"]))
    json.dump(out, sys.stdout)


if __name__ == "__main__":
    main()

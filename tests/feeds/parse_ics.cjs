// Reads an iCalendar document on stdin and prints its events as JSON, as Mozilla's ical.js reads them:
// each event's UID, SUMMARY and its start and end as UTC instants (ISO 8601), and the TZIDs it used.
// Used by tests/feeds/test_ical_js.py as the independent parser of sevflow's calendar feeds.
const ICAL = require("ical.js");
const fs = require("fs");

const text = fs.readFileSync(0, "utf8");
const root = new ICAL.Component(ICAL.parse(text));
for (const vtimezone of root.getAllSubcomponents("vtimezone")) {
  ICAL.TimezoneService.register(vtimezone);
}
const events = root.getAllSubcomponents("vevent").map((component) => {
  const event = new ICAL.Event(component);
  return {
    uid: event.uid,
    summary: event.summary,
    start: event.startDate.toJSDate().toISOString(),
    end: event.endDate.toJSDate().toISOString(),
    start_tzid: event.startDate.zone ? event.startDate.zone.tzid : null,
    end_tzid: event.endDate.zone ? event.endDate.zone.tzid : null,
  };
});
const timezones = root.getAllSubcomponents("vtimezone").map((tz) => tz.getFirstPropertyValue("tzid"));
process.stdout.write(JSON.stringify({ timezones, events }));

//! Calendars: deploy windows and shifts as iCalendar (RFC 5545) feeds that
//! people subscribe to in Google Calendar, Outlook or Thunderbird, and a
//! week page at `GET /calendar`. Release teams already live in calendars;
//! these put the bot's schedule there instead of only in chat replies.
//!
//! - `/calendar/windows.ics`: every window occurrence from two weeks back
//!   to eight weeks ahead, with deployers and queued patches;
//! - `/calendar/oncall.ics`, `/calendar/oncall/{rotation}.ics`: who is on
//!   shift, overrides and taken swaps applied;
//! - `/calendar/person/{name}.ics`: one person's shifts and windows.
//!
//! Times are written in the window's or rotation's own zone (`TZID`, an
//! IANA name; the crate writes no VTIMEZONE), except an instant in the hour
//! a fall-back repeats, which only UTC names unambiguously. With
//! `[http] calendar_token` set every calendar route wants `?token=` (a
//! calendar client cannot send headers); a wrong or missing one gets 401.

mod edits;
pub mod feed;
mod page;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use axum::Router as Routes;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, RawQuery, State as Extract};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use chrono::{DateTime, Utc};
use icalendar::{Attendee, Calendar, CalendarDateTime, Component, EventLike, EventStatus};
use signalbox_commands::PersonId;

use self::edits::Edits;
use self::feed::Entry;
use super::AppState;
use super::treestatus::{Problem, problem};
use crate::config::Secret;

/// The calendar side of the HTTP state: the token, people's email
/// addresses, and the SEQUENCE index (kept up to date from the event log).
pub struct Calendars {
    token: Option<Secret>,
    emails: HashMap<PersonId, String>,
    edits: Mutex<Edits>,
}

impl Calendars {
    pub fn new(token: Option<Secret>, emails: HashMap<PersonId, String>) -> Self {
        Self {
            token,
            emails,
            edits: Mutex::new(Edits::default()),
        }
    }

    /// Whether `given` opens the calendars.
    fn admits(&self, given: Option<&str>) -> bool {
        match &self.token {
            None => true,
            Some(secret) => given.is_some_and(|g| same(g.as_bytes(), secret.expose().as_bytes())),
        }
    }

    /// The `?token=` to put in links, when one is needed.
    fn query(&self) -> String {
        match &self.token {
            None => String::new(),
            Some(t) => format!(
                "?token={}",
                signalbox_commands::calendar::encode(t.expose())
            ),
        }
    }

    /// The index, caught up with the log.
    fn edits(&self, app: &AppState) -> Edits {
        let mut edits = match self.edits.lock() {
            Ok(e) => e,
            Err(poisoned) => poisoned.into_inner(),
        };
        edits.catch_up(&app.ledger.history());
        edits.clone()
    }
}

impl std::fmt::Debug for Calendars {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Calendars")
            .field("token", &self.token)
            .finish_non_exhaustive()
    }
}

/// Compares without stopping at the first difference.
fn same(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

pub fn routes() -> Routes<Arc<AppState>> {
    Routes::new()
        .route("/calendar", get(page::serve))
        .route("/calendar/windows.ics", get(windows))
        .route("/calendar/oncall.ics", get(oncall))
        .route("/calendar/oncall/{file}", get(rotation))
        .route("/calendar/person/{file}", get(person))
}

/// The query every calendar route takes.
type Params = Result<Query<HashMap<String, String>>, QueryRejection>;

/// The query's values, or the response that refuses the request (a
/// malformed query: 400; a wrong token: 401).
fn admit(
    app: &AppState,
    raw: Option<String>,
    query: Params,
) -> Result<HashMap<String, String>, Problem> {
    let params = match query {
        Ok(Query(p)) => p,
        Err(e) => {
            let raw = raw.unwrap_or_default();
            let detail = format!("query \"{raw}\" is malformed: {}", e.body_text());
            return Err(problem(StatusCode::BAD_REQUEST, detail));
        }
    };
    if !app.calendar.admits(params.get("token").map(String::as_str)) {
        let detail = if params.contains_key("token") {
            "the calendar token is wrong"
        } else {
            "the calendars need ?token= (the [http] calendar_token)"
        };
        return Err(problem(StatusCode::UNAUTHORIZED, detail));
    }
    Ok(params)
}

/// `NAME.ics` → `NAME`.
fn stem(file: &str) -> Option<&str> {
    file.strip_suffix(".ics").filter(|s| !s.is_empty())
}

fn not_found(detail: String) -> Response {
    problem(StatusCode::NOT_FOUND, detail).into_response()
}

/// The span every feed covers.
fn span(now: DateTime<Utc>) -> (DateTime<Utc>, DateTime<Utc>) {
    (now - feed::BEHIND, now + feed::AHEAD)
}

/// The moment of the feed, its span, and the edits so far: what every
/// feed is built from.
struct Moment {
    now: DateTime<Utc>,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    edits: Edits,
    state: Arc<signalbox_commands::State>,
}

impl Moment {
    fn of(app: &AppState) -> Moment {
        let now = app.clock.now();
        let (from, to) = span(now);
        Moment {
            now,
            from,
            to,
            edits: app.calendar.edits(app),
            state: app.ledger.state(),
        }
    }
}

async fn windows(
    Extract(app): Extract<Arc<AppState>>,
    RawQuery(raw): RawQuery,
    query: Params,
) -> Response {
    if let Err(refusal) = admit(&app, raw, query) {
        return refusal.into_response();
    }
    let m = Moment::of(&app);
    let entries = feed::windows(&app.settings, &m.state, &m.edits, m.from, m.to);
    ics(&app, "deploy windows", &entries, m.now)
}

async fn oncall(
    Extract(app): Extract<Arc<AppState>>,
    RawQuery(raw): RawQuery,
    query: Params,
) -> Response {
    if let Err(refusal) = admit(&app, raw, query) {
        return refusal.into_response();
    }
    let m = Moment::of(&app);
    let entries = feed::all_shifts(&app.settings, &m.state, &m.edits, m.from, m.to);
    ics(&app, "shifts", &entries, m.now)
}

async fn rotation(
    Extract(app): Extract<Arc<AppState>>,
    Path(file): Path<String>,
    RawQuery(raw): RawQuery,
    query: Params,
) -> Response {
    if let Err(refusal) = admit(&app, raw, query) {
        return refusal.into_response();
    }
    let found = stem(&file).and_then(|name| app.settings.rotations.iter().find(|r| r.name == name));
    let Some(r) = found else {
        let names: Vec<&str> = app
            .settings
            .rotations
            .iter()
            .map(|r| r.name.as_str())
            .collect();
        return not_found(format!(
            "rotation calendar \"{file}\" is unknown; calendars are: {}",
            names
                .iter()
                .map(|n| format!("{n}.ics"))
                .collect::<Vec<_>>()
                .join(", ")
        ));
    };
    let m = Moment::of(&app);
    let entries = feed::shifts(r, &m.state, &m.edits, m.from, m.to);
    ics(&app, &format!("{} shifts", r.name), &entries, m.now)
}

async fn person(
    Extract(app): Extract<Arc<AppState>>,
    Path(file): Path<String>,
    RawQuery(raw): RawQuery,
    query: Params,
) -> Response {
    if let Err(refusal) = admit(&app, raw, query) {
        return refusal.into_response();
    }
    let Some(name) = stem(&file).filter(|n| feed::is_person(&app.settings, n)) else {
        return not_found(format!(
            "person calendar \"{file}\" is unknown; use NAME.ics with a name from [people]"
        ));
    };
    let who = PersonId::new(name);
    let m = Moment::of(&app);
    let mut entries: Vec<Entry> = feed::all_shifts(&app.settings, &m.state, &m.edits, m.from, m.to)
        .into_iter()
        .chain(feed::windows(
            &app.settings,
            &m.state,
            &m.edits,
            m.from,
            m.to,
        ))
        .filter(|e| e.involves(&who))
        .collect();
    entries.sort_by(|a, b| (a.start, &a.uid).cmp(&(b.start, &b.uid)));
    ics(
        &app,
        &format!("{name}'s shifts and windows"),
        &entries,
        m.now,
    )
}

/// A time as the feed writes it: local with TZID, or UTC when the local
/// time is ambiguous.
fn when(t: DateTime<Utc>, tz: chrono_tz::Tz) -> CalendarDateTime {
    match feed::local(t, tz) {
        Some(naive) if tz != chrono_tz::Tz::UTC => CalendarDateTime::WithTimezone {
            date_time: naive,
            tzid: tz.name().to_string(),
        },
        _ => CalendarDateTime::Utc(t),
    }
}

/// The entries as one VCALENDAR.
pub(crate) fn render(
    name: &str,
    entries: &[Entry],
    emails: &HashMap<PersonId, String>,
    now: DateTime<Utc>,
) -> String {
    let mut calendar = Calendar::new();
    calendar.name(&format!("signalbox: {name}"));
    for e in entries {
        let mut event = icalendar::Event::new();
        event
            .uid(&e.uid)
            .summary(&e.summary)
            .description(&e.description)
            .sequence(e.sequence)
            .timestamp(now)
            .starts(when(e.start, e.tz))
            .ends(when(e.end, e.tz))
            .status(if e.cancelled {
                EventStatus::Cancelled
            } else {
                EventStatus::Confirmed
            });
        let people: Vec<&PersonId> = match &e.kind {
            feed::Kind::Shift { person, .. } => vec![person],
            feed::Kind::Window { deployers, .. } => deployers.iter().collect(),
        };
        for p in people {
            if let Some(email) = emails.get(p) {
                let mut attendee = Attendee::new(format!("mailto:{email}"));
                attendee.cn = Some(p.to_string());
                event.attendee(attendee);
            }
        }
        calendar.push(event.done());
    }
    calendar.done().to_string()
}

fn ics(app: &AppState, name: &str, entries: &[Entry], now: DateTime<Utc>) -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/calendar; charset=utf-8"),
            (header::CACHE_CONTROL, "no-store"),
        ],
        render(name, entries, &app.calendar.emails, now),
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_compare_whole() {
        let c = Calendars::new(Some(Secret::new("s3cret")), HashMap::new());
        assert!(c.admits(Some("s3cret")));
        for bad in [
            None,
            Some(""),
            Some("s3cre"),
            Some("s3cret!"),
            Some("S3CRET"),
        ] {
            assert!(!c.admits(bad), "{bad:?}");
        }
        assert!(Calendars::new(None, HashMap::new()).admits(None));
        assert_eq!(c.query(), "?token=s3cret");
    }

    #[test]
    fn names_must_end_in_ics() {
        assert_eq!(stem("ciduty.ics"), Some("ciduty"));
        assert_eq!(stem("ciduty"), None);
        assert_eq!(stem(".ics"), None);
    }
}

//! `GET /calendar[?week=YYYY-MM-DD]`: one week (Monday to Sunday in the
//! bot's zone) of windows and shifts, rendered on the server and readable
//! without script, with a subscribe link for every feed. It shows the same
//! entries the feeds serve.

use std::fmt::Write as _;
use std::sync::Arc;

use axum::extract::{RawQuery, State as Extract};
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};
use chrono::{DateTime, Datelike, Duration, NaiveDate, NaiveTime, TimeZone, Utc};
use chrono_tz::Tz;

use super::feed::{self, Entry, Kind};
use super::{AppState, Params, admit};
use crate::http::escape;
use crate::http::treestatus::problem;

const STYLE: &str = "body{font-family:system-ui,sans-serif;margin:1em 1.5em;color:#222;background:#fafafa}\
header{display:flex;align-items:baseline;gap:1em;flex-wrap:wrap}h1{margin:0 0 .4em}h2{font-size:1.1em}\
table.week{border-collapse:collapse;width:100%;table-layout:fixed;background:#fff}\
.week th,.week td{border:1px solid #ddd;padding:4px 6px;vertical-align:top;text-align:left}\
.week th{background:#eee}.week td.today{background:#fffbe6}\
ul.day{list-style:none;margin:0;padding:0}ul.day li{margin:0 0 4px;padding:3px 5px;border-radius:4px;font-size:.9em}\
li.window{background:#d6e4ff;border-left:4px solid #1d4ed8}li.shift{background:#e3f5e1;border-left:4px solid #2e7d32}\
li.cancelled{text-decoration:line-through;color:#777}.muted{color:#777}nav a{margin-right:1em}";

/// The Monday that starts the week containing `day`.
fn monday(day: NaiveDate) -> NaiveDate {
    day.checked_sub_signed(Duration::days(i64::from(
        day.weekday().num_days_from_monday(),
    )))
    .unwrap_or(day)
}

/// The first instant of `day` in `tz` (its earliest, across a DST gap).
fn midnight(day: NaiveDate, tz: Tz) -> DateTime<Utc> {
    let naive = day.and_time(NaiveTime::MIN);
    tz.from_local_datetime(&naive)
        .earliest()
        .or_else(|| {
            tz.from_local_datetime(&(naive + Duration::hours(1)))
                .earliest()
        })
        .map_or_else(|| Utc.from_utc_datetime(&naive), |t| t.with_timezone(&Utc))
}

pub(super) async fn serve(
    Extract(app): Extract<Arc<AppState>>,
    RawQuery(raw): RawQuery,
    query: Params,
) -> Response {
    let params = match admit(&app, raw, query) {
        Ok(p) => p,
        Err(refusal) => return refusal.into_response(),
    };
    let tz = app.timezone;
    let now = app.clock.now();
    let today = now.with_timezone(&tz).date_naive();
    let first = match params.get("week") {
        None => monday(today),
        Some(text) => match NaiveDate::parse_from_str(text, "%Y-%m-%d") {
            Ok(day) => monday(day),
            Err(_) => {
                let detail = format!("week \"{text}\" is malformed; use YYYY-MM-DD");
                return problem(StatusCode::BAD_REQUEST, detail).into_response();
            }
        },
    };
    // Ten years either way: further out, shift arithmetic leaves chrono's range.
    if (first - today).num_days().abs() > 3_660 {
        let detail = format!("week \"{first}\" is out of range; use one within ten years");
        return problem(StatusCode::BAD_REQUEST, detail).into_response();
    }
    let after = first + Duration::days(7);
    let (from, to) = (midnight(first, tz), midnight(after, tz));
    let edits = app.calendar.edits(&app);
    let state = app.ledger.state();
    let mut entries: Vec<Entry> = feed::windows(&app.settings, &state, &edits, from, to);
    entries.extend(feed::all_shifts(&app.settings, &state, &edits, from, to));
    entries.sort_by(|a, b| (a.start, &a.uid).cmp(&(b.start, &b.uid)));
    let token = app.calendar.query();
    Html(render(&app, first, today, &entries, &token, now)).into_response()
}

fn hm(t: DateTime<Utc>, tz: Tz) -> String {
    t.with_timezone(&tz).format("%H:%M").to_string()
}

fn item(html: &mut String, e: &Entry, day_start: DateTime<Utc>, day_end: DateTime<Utc>, tz: Tz) {
    let from = if e.start >= day_start {
        hm(e.start, tz)
    } else {
        "…".to_string()
    };
    let until = if e.end <= day_end {
        hm(e.end, tz)
    } else {
        "…".to_string()
    };
    let cancelled = if e.cancelled { " cancelled" } else { "" };
    match &e.kind {
        Kind::Window {
            name, deployers, ..
        } => {
            let who: Vec<&str> = deployers.iter().map(|p| p.as_str()).collect();
            let _ = write!(
                html,
                "<li class=\"window{cancelled}\" data-window=\"{}\" data-uid=\"{}\" title=\"{}\">{from}–{until} <b>{}</b> <span class=\"muted\">{}</span></li>",
                escape(name),
                escape(&e.uid),
                escape(&e.description),
                escape(&e.summary),
                escape(&who.join(", "))
            );
        }
        Kind::Shift { rotation, person } => {
            let _ = write!(
                html,
                "<li class=\"shift\" data-rotation=\"{}\" data-person=\"{}\" data-uid=\"{}\">{from}–{until} {}: <b>{}</b></li>",
                escape(rotation),
                escape(person.as_str()),
                escape(&e.uid),
                escape(rotation),
                escape(person.as_str())
            );
        }
    }
}

fn render(
    app: &AppState,
    first: NaiveDate,
    today: NaiveDate,
    entries: &[Entry],
    token: &str,
    now: DateTime<Utc>,
) -> String {
    let tz = app.timezone;
    let sep = if token.is_empty() { "?" } else { "&" };
    let week = |d: NaiveDate| format!("/calendar{token}{sep}week={d}");
    let last = first + Duration::days(6);
    let mut html = String::new();
    let _ = write!(
        html,
        "<!doctype html><html lang=en><head><meta charset=\"utf-8\"><title>signalbox — week of {first}</title>\
         <meta name=\"viewport\" content=\"width=device-width\"><style>{STYLE}</style></head><body>\
         <header><h1>Week of {} – {}</h1><nav><a id=\"prev\" href=\"{}\">← previous week</a>\
         <a id=\"this\" href=\"{}\">this week</a><a id=\"next\" href=\"{}\">next week →</a>\
         <a href=\"/\">status board</a></nav></header>",
        first.format("%a %Y-%m-%d"),
        last.format("%a %Y-%m-%d"),
        escape(&week(first - Duration::days(7))),
        escape(&week(today)),
        escape(&week(first + Duration::days(7))),
    );
    html.push_str("<table class=\"week\" id=\"week\"><tr>");
    for i in 0..7 {
        let day = first + Duration::days(i);
        let _ = write!(
            html,
            "<th data-day=\"{day}\">{}</th>",
            day.format("%a %d %b")
        );
    }
    html.push_str("</tr><tr>");
    for i in 0..7 {
        let day = first + Duration::days(i);
        let (start, end) = (midnight(day, tz), midnight(day + Duration::days(1), tz));
        let class = if day == today { " class=\"today\"" } else { "" };
        let _ = write!(html, "<td{class} data-day=\"{day}\"><ul class=\"day\">");
        for e in entries.iter().filter(|e| e.start < end && e.end > start) {
            item(&mut html, e, start, end, tz);
        }
        html.push_str("</ul></td>");
    }
    let _ = write!(
        html,
        "</tr></table><p class=\"muted\">times in {}; as of {}</p>",
        tz.name(),
        signalbox_commands::when::format_instant(now, tz)
    );
    html.push_str("<h2>Subscribe</h2><ul id=\"feeds\">");
    let mut feeds: Vec<(String, String)> = vec![
        (
            "deploy windows".to_string(),
            "/calendar/windows.ics".to_string(),
        ),
        (
            "every rotation's shifts".to_string(),
            "/calendar/oncall.ics".to_string(),
        ),
    ];
    for r in &app.settings.rotations {
        feeds.push((
            format!("{} shifts", r.name),
            format!("/calendar/oncall/{}.ics", r.name),
        ));
    }
    for p in &app.settings.people {
        feeds.push((
            format!("{p}'s shifts and windows"),
            format!("/calendar/person/{p}.ics"),
        ));
    }
    let base = app
        .settings
        .public_url
        .as_deref()
        .map(|u| u.trim_end_matches('/').to_string())
        .unwrap_or_default();
    for (label, path) in feeds {
        let url = format!("{base}{path}{token}");
        let _ = write!(
            html,
            "<li><a class=\"feed\" href=\"{}\">{}</a></li>",
            escape(&url),
            escape(&label)
        );
    }
    html.push_str("</ul><p class=\"muted\">Add a feed's link in your calendar application (\"subscribe\" or \"from URL\"); it refreshes by itself.</p></body></html>");
    html
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn weeks_start_on_monday_and_days_at_local_midnight() {
        let day = |s: &str| NaiveDate::parse_from_str(s, "%Y-%m-%d").expect("date");
        assert_eq!(monday(day("2026-10-25")), day("2026-10-19"));
        assert_eq!(monday(day("2026-10-19")), day("2026-10-19"));
        assert_eq!(
            midnight(day("2026-10-25"), chrono_tz::Europe::Berlin),
            "2026-10-24T22:00:00Z"
                .parse::<DateTime<Utc>>()
                .expect("instant")
        );
    }
}

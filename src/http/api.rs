//! The JSON read API for the families beyond trees: `GET /api/v1/train`,
//! `/api/v1/windows`, `/api/v1/log`. Dashboards and release tooling read these
//! instead of scraping chat; every answer comes from the ledger's latest
//! durable state (and, for the log, from the event log itself).

use std::sync::Arc;

use axum::Router as Routes;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, RawQuery, State as Extract};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Json, Response};
use axum::routing::get;
use chrono::{DateTime, Duration, Utc};
use serde::Deserialize;
use serde_json::{Value, json};
use signalbox_commands::train::TrainRun;
use signalbox_commands::{EventId, log, window};

use super::AppState;
use super::treestatus::problem;

/// Most log entries one request returns.
const LOG_MAX: usize = 1000;

pub fn routes() -> Routes<Arc<AppState>> {
    Routes::new()
        .route("/api/v1/train", get(train))
        .route("/api/v1/windows", get(windows))
        .route("/api/v1/log", get(log_entries))
        .route("/api/v1/loaners", get(loaners))
}

fn train_json(t: &TrainRun) -> Value {
    json!({
        "version": t.version,
        "group": t.group,
        "state": t.state.as_str(),
        "conductor": t.conductor,
        "started": t.started,
        "hold": t.hold,
        "blockers": t.blockers.values().collect::<Vec<_>>(),
        "timeline": t.timeline,
    })
}

/// `{"current": TRAIN|null, "history": [TRAIN…]}`, history newest first.
async fn train(Extract(app): Extract<Arc<AppState>>) -> Json<Value> {
    let state = app.ledger.state();
    let trains = &state.trains;
    Json(json!({
        "groups": app.settings.train_groups,
        "current": trains.current.as_ref().map(train_json),
        "history": trains.history.iter().rev().map(train_json).collect::<Vec<_>>(),
    }))
}

/// How far ahead `/api/v1/windows` and the board list window occurrences.
pub(super) const UPCOMING_DAYS: i64 = 7;

/// Occurrences of every window (recurring and one-off) starting in the next
/// `days` days, by start; the board shows the same list.
pub(super) fn upcoming(
    app: &AppState,
    windows: &window::Windows,
    now: DateTime<Utc>,
    days: i64,
) -> Vec<window::Upcoming> {
    window::upcoming(&app.settings, windows, now, now + Duration::days(days))
}

/// The windows (recurring and one-off), their occurrences in the next 7
/// days with queued patches, the open one, and recent sessions.
async fn windows(Extract(app): Extract<Arc<AppState>>) -> Json<Value> {
    let state = app.ledger.state();
    let now = app.clock.now();
    let w = &state.windows;
    let defs: Vec<Value> = app
        .settings
        .windows
        .iter()
        .map(|d| {
            json!({
                "name": d.name,
                "recurring": true,
                "cron": d.cron,
                "timezone": d.timezone.name(),
                "duration_minutes": d.duration.num_minutes(),
                "deployers": d.deployers,
                "channels": d.channels,
            })
        })
        .chain(w.adhoc.values().map(|a| {
            json!({
                "name": a.name,
                "recurring": false,
                "start": a.start,
                "duration_minutes": a.duration.num_minutes(),
                "deployers": a.deployers,
                "added_by": a.by,
            })
        }))
        .collect();
    let upcoming: Vec<Value> = upcoming(&app, w, now, UPCOMING_DAYS)
        .into_iter()
        .map(|u| {
            let patches: Vec<_> = w
                .queue
                .iter()
                .filter(|p| p.window == u.name && p.occurrence == u.start)
                .collect();
            json!({
                "name": u.name,
                "start": u.start,
                "end": u.end,
                "deployers": u.deployers,
                "patches": patches,
            })
        })
        .collect();
    Json(json!({
        "windows": defs,
        "upcoming": upcoming,
        "active": w.active,
        "queue": w.queue,
        "past": w.past.iter().rev().collect::<Vec<_>>(),
    }))
}

/// `/api/v1/log`'s query: filters, a page size, and the paging cursor.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct LogQuery {
    since: Option<String>,
    until: Option<String>,
    task: Option<String>,
    window: Option<String>,
    author: Option<String>,
    /// Only entries older than this event id (the previous page's `next_before`).
    before: Option<u64>,
    limit: Option<usize>,
}

/// A duration back from now, RFC 3339, or a date/time in the bot's zone.
fn instant(text: &str, now: DateTime<Utc>, tz: chrono_tz::Tz) -> Result<DateTime<Utc>, String> {
    if let Ok(t) = DateTime::parse_from_rfc3339(text) {
        return Ok(t.with_timezone(&Utc));
    }
    log::parse_since(text, now, tz).map_err(|e| e.to_string())
}

/// `{"entries": [ENTRY…], "next_before": ID|null}`, newest first; when a
/// page is full, `next_before` fetches the next one.
async fn log_entries(
    Extract(app): Extract<Arc<AppState>>,
    RawQuery(raw): RawQuery,
    query: Result<Query<LogQuery>, QueryRejection>,
) -> Response {
    let q = match query {
        Ok(Query(q)) => q,
        Err(e) => {
            let raw = raw.unwrap_or_default();
            let detail = format!("query \"{raw}\" is malformed: {}", e.body_text());
            return problem(StatusCode::BAD_REQUEST, detail).into_response();
        }
    };
    let tz = app.settings.timezone;
    let now = app.clock.now();
    let since = match q.since.as_deref().map(|s| instant(s, now, tz)).transpose() {
        Ok(t) => t,
        Err(e) => return problem(StatusCode::BAD_REQUEST, e).into_response(),
    };
    let until = match q.until.as_deref().map(|s| instant(s, now, tz)).transpose() {
        Ok(t) => t,
        Err(e) => return problem(StatusCode::BAD_REQUEST, e).into_response(),
    };
    let filter = log::Filter {
        since,
        until,
        task: q.task,
        window: q.window,
        author: q.author,
        session: None,
        before: q.before.map(EventId),
    };
    let limit = q.limit.unwrap_or(100).clamp(1, LOG_MAX);
    let ledger = app.ledger.clone();
    let found =
        tokio::task::spawn_blocking(move || log::entries(&ledger.history(), &filter, limit)).await;
    match found {
        Ok(entries) => {
            let next = entries
                .last()
                .filter(|_| entries.len() == limit)
                .map(|e| e.id);
            Json(json!({ "entries": entries, "next_before": next })).into_response()
        }
        Err(e) => problem(
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("log read failed: {e}"),
        )
        .into_response(),
    }
}

/// `{"pools": [POOL…], "requests": [REQUEST…], "loans": [active REQUEST…]}`;
/// each pool lists its machines with their state (`free` or `loaned`, with
/// the request holding it).
async fn loaners(Extract(app): Extract<Arc<AppState>>) -> Json<Value> {
    let state = app.ledger.state();
    let l = &state.loaners;
    let now = app.clock.now();
    let pools: Vec<Value> = app
        .settings
        .pools
        .iter()
        .map(|p| {
            let machines: Vec<Value> = p
                .machines
                .iter()
                .map(|m| match l.holder(m) {
                    Some(r) => json!({
                        "name": m, "state": "loaned", "request": r.id,
                        "borrower": r.requester, "expires": r.expires, "expired": r.expired,
                    }),
                    None => json!({ "name": m, "state": "free" }),
                })
                .collect();
            json!({
                "name": p.name,
                "description": p.description,
                "default_loan_hours": p.default_loan.num_hours(),
                "max_loan_hours": p.max_loan.num_hours(),
                "max_extensions": p.max_extensions,
                "quota": p.quota,
                "sla_working_hours": p.sla.num_hours(),
                "machines": machines,
            })
        })
        .collect();
    let requests: Vec<Value> = l
        .requests
        .values()
        .map(|r| {
            let mut v = json!(r);
            v["overdue"] = json!(r.overdue || r.overdue_at(now));
            v
        })
        .collect();
    let loans: Vec<&Value> = requests
        .iter()
        .filter(|r| r["status"] == "active")
        .collect();
    Json(json!({ "pools": pools, "requests": requests, "loans": loans }))
}

//! `GET /api/v1/audit`: every state change with who, where and when, newest
//! first, read from the event log (which is the audit trail).

use std::sync::Arc;

use axum::Router as Routes;
use axum::extract::{Query, State as Extract};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Json, Response};
use axum::routing::get;
use chrono::{DateTime, Utc};
use serde::Deserialize;
use serde_json::json;
use signalbox_commands::{Event, History};

use super::AppState;

/// The most events one page returns.
const MAX_LIMIT: usize = 500;

pub fn routes() -> Routes<Arc<AppState>> {
    Routes::new().route("/api/v1/audit", get(audit))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Filter {
    /// Only events after this instant.
    since: Option<DateTime<Utc>>,
    /// Only events before this id (paging: pass the last id of a page).
    before: Option<u64>,
    /// Only events by this person (or scheduler job / API handle).
    who: Option<String>,
    /// Only events touching this family (`tree`, `job`, …).
    family: Option<String>,
    limit: Option<usize>,
}

async fn audit(
    Extract(app): Extract<Arc<AppState>>,
    filter: Result<Query<Filter>, axum::extract::rejection::QueryRejection>,
) -> Response {
    let Query(filter) = match filter {
        Ok(f) => f,
        Err(e) => {
            let body = json!({ "title": "Bad Request", "status": 400, "detail": e.body_text() });
            return (StatusCode::BAD_REQUEST, Json(body)).into_response();
        }
    };
    let limit = filter.limit.unwrap_or(100).clamp(1, MAX_LIMIT);
    let ledger = app.ledger.clone();
    let events = tokio::task::spawn_blocking(move || {
        let mut out: Vec<Event> = Vec::new();
        ledger.history().newest_first(&mut |event| {
            if filter.since.is_some_and(|s| event.at <= s) {
                return false;
            }
            let wanted = filter.before.is_none_or(|b| event.id.0 < b)
                && filter
                    .who
                    .as_deref()
                    .is_none_or(|w| event.actor.name() == w)
                && filter.family.as_deref().is_none_or(|f| {
                    serde_json::to_value(&event.changes)
                        .ok()
                        .and_then(|v| v.as_array().cloned())
                        .is_some_and(|cs| cs.iter().any(|c| c["family"] == f))
                });
            if wanted {
                out.push(event.clone());
            }
            out.len() < limit
        });
        out
    })
    .await;
    match events {
        Ok(events) => {
            let next = events
                .last()
                .filter(|_| events.len() == limit)
                .map(|e| e.id);
            Json(json!({ "result": events, "next_before": next })).into_response()
        }
        Err(e) => (
            StatusCode::INTERNAL_SERVER_ERROR,
            Json(json!({ "detail": e.to_string() })),
        )
            .into_response(),
    }
}

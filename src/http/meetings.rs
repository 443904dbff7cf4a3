//! `GET /meetings/{id}`: a meeting's full minutes, linked from the summary
//! the bot posts when the meeting ends. HTML for people, JSON for scripts
//! (`Accept: application/json` or `/api/v1/meetings/{id}`); the open action
//! items of every meeting at `/api/v1/actions`.

use std::fmt::Write as _;
use std::sync::Arc;

use axum::Router as Routes;
use axum::extract::{Path, State as Extract};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{Html, IntoResponse, Json, Response};
use axum::routing::get;
use serde_json::json;
use signalbox_commands::meeting::{ActionItem, ItemKind, Minutes};
use signalbox_commands::when::{format_duration, format_instant};

use super::{AppState, escape};

pub fn routes() -> Routes<Arc<AppState>> {
    Routes::new()
        .route("/meetings/{id}", get(page))
        .route("/api/v1/meetings/{id}", get(json_only))
        .route("/api/v1/actions", get(actions))
}

fn not_found(id: &str) -> Response {
    let body = json!({
        "title": "Not Found",
        "status": 404,
        "detail": format!("meeting \"{id}\" is unknown"),
    });
    (StatusCode::NOT_FOUND, Json(body)).into_response()
}

/// The minutes and their action items (with whether each is done).
fn find(app: &AppState, id: &str) -> Option<(Minutes, Vec<ActionItem>)> {
    let n: u64 = id.parse().ok()?;
    let state = app.ledger.state();
    let minutes = state.meetings.minutes.get(&n)?.clone();
    let actions = state
        .meetings
        .actions
        .values()
        .filter(|a| a.meeting == n)
        .cloned()
        .collect();
    Some((minutes, actions))
}

fn as_json(minutes: &Minutes, actions: &[ActionItem]) -> Response {
    Json(json!({ "meeting": minutes, "actions": actions })).into_response()
}

async fn json_only(Extract(app): Extract<Arc<AppState>>, Path(id): Path<String>) -> Response {
    match find(&app, &id) {
        Some((m, a)) => as_json(&m, &a),
        None => not_found(&id),
    }
}

async fn page(
    Extract(app): Extract<Arc<AppState>>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Response {
    let Some((minutes, actions)) = find(&app, &id) else {
        return not_found(&id);
    };
    let wants_json = headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains("application/json") && !v.contains("text/html"));
    if wants_json {
        return as_json(&minutes, &actions);
    }
    Html(render(&minutes, &actions, app.timezone, app.clock.now())).into_response()
}

async fn actions(Extract(app): Extract<Arc<AppState>>) -> impl IntoResponse {
    let state = app.ledger.state();
    let open: Vec<&ActionItem> = state.meetings.open_actions().collect();
    Json(json!({ "actions": open }))
}

fn render(
    m: &Minutes,
    actions: &[ActionItem],
    tz: chrono_tz::Tz,
    now: chrono::DateTime<chrono::Utc>,
) -> String {
    let e = escape;
    let span = match m.ended {
        Some(end) => format!(
            "{} – {} ({})",
            format_instant(m.started, tz),
            format_instant(end, tz),
            format_duration(end - m.started)
        ),
        None => format!(
            "{} – still running ({} so far)",
            format_instant(m.started, tz),
            format_duration(now - m.started)
        ),
    };
    let mut body = String::new();
    let _ = write!(
        body,
        "<h1>{}</h1><p class=meta>meeting {} in {} · chaired by {} · {}</p>",
        e(&m.name),
        m.id,
        e(&m.channel.to_string()),
        e(&m.chair),
        e(&span)
    );
    body.push_str("<h2>Minutes</h2><ol class=minutes>");
    for item in &m.items {
        let what = match (item.kind, &item.owner) {
            (ItemKind::Action, Some(owner)) => format!("action for {}", e(owner.as_str())),
            (kind, _) => kind.as_str().to_string(),
        };
        let _ = write!(
            body,
            "<li class={}><b>{what}</b>: {} <small>({}, {})</small></li>",
            item.kind.as_str(),
            e(&item.text),
            e(&item.by),
            e(&format_instant(item.at, tz))
        );
    }
    body.push_str("</ol><h2>Action items</h2><ul class=actions>");
    if actions.is_empty() {
        body.push_str("<li>none</li>");
    }
    for a in actions {
        let state = match a.done {
            Some(t) => format!("done {}", format_instant(t, tz)),
            None => "open".to_string(),
        };
        let _ = write!(
            body,
            "<li class={}>#{} <b>{}</b>: {} <small>({})</small></li>",
            if a.done.is_some() { "done" } else { "open" },
            a.id,
            e(a.owner.as_str()),
            e(&a.text),
            e(&state)
        );
    }
    let attendees: Vec<String> = m.attendees.iter().map(|a| e(a)).collect();
    let _ = write!(
        body,
        "</ul><h2>Attendees</h2><p>{}</p>",
        attendees.join(", ")
    );
    format!(
        "<!doctype html><html lang=en><meta charset=utf-8><title>{} — minutes</title>\
         <style>body{{font:15px/1.5 system-ui,sans-serif;max-width:50rem;margin:2rem auto;padding:0 1rem}}\
         .meta{{color:#555}}li.agreed b{{color:#1a7f37}}li.action b{{color:#9a6700}}\
         li.topic{{list-style:none;margin-top:.8rem;font-size:1.05rem}}li.done{{color:#777;text-decoration:line-through}}</style>\
         <body>{body}<p><a href=\"/\">status board</a></p></body></html>",
        e(&m.name)
    )
}

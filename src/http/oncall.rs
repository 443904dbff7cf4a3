//! Who is on duty, over HTTP: `GET /api/v1/oncall` for dashboards and
//! `GET /current/{rotation}` in the shape of Chromium's rotation proxy
//! (`{"emails": [...]}`), which existing tools already read.

use std::sync::Arc;

use axum::Router as Routes;
use axum::extract::{Path, State as Extract};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Json, Response};
use axum::routing::get;
use serde_json::json;
use signalbox_commands::oncall::{next_change, on_shift};

use super::AppState;

pub fn routes() -> Routes<Arc<AppState>> {
    Routes::new()
        .route("/api/v1/oncall", get(oncall))
        .route("/current/{rotation}", get(current))
}

async fn oncall(Extract(app): Extract<Arc<AppState>>) -> Response {
    let state = app.ledger.state();
    let settings = app.router.settings();
    let now = app.router.clock().now();
    let rotations: Vec<serde_json::Value> = settings
        .rotations
        .iter()
        .map(|r| {
            let mut t = now;
            let next: Vec<serde_json::Value> = (0..3)
                .map(|_| {
                    t = next_change(r, &state.duty, t);
                    json!({ "person": on_shift(r, &state.duty, t), "from": t })
                })
                .collect();
            json!({
                "rotation": r.name,
                "person": on_shift(r, &state.duty, now),
                "until": next_change(r, &state.duty, now),
                "grants": r.grants,
                "members": r.members,
                "next": next,
            })
        })
        .collect();
    Json(json!({ "result": rotations })).into_response()
}

async fn current(Extract(app): Extract<Arc<AppState>>, Path(name): Path<String>) -> Response {
    let state = app.ledger.state();
    let settings = app.router.settings();
    let Some(rotation) = settings.rotations.iter().find(|r| r.name == name) else {
        let body = json!({ "title": "Not Found", "status": 404, "detail": format!("rotation \"{name}\" is unknown") });
        return (StatusCode::NOT_FOUND, Json(body)).into_response();
    };
    let now = app.router.clock().now();
    let emails: Vec<&String> = on_shift(rotation, &state.duty, now)
        .and_then(|p| rotation.emails.get(&p))
        .into_iter()
        .collect();
    Json(json!({ "emails": emails, "updated_unix_timestamp": now.timestamp() })).into_response()
}

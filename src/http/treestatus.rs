//! Mozilla treestatus-compatible reads, so existing hooks and tools work
//! unchanged: `{"result": …}` wrappers, `status` spelled `open`, `closed` or
//! `approval required`, 404 for an unknown tree.

use std::sync::Arc;

use axum::Router as Routes;
use axum::extract::{Path, State as Extract};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Json, Response};
use axum::routing::get;
use serde::Serialize;
use serde_json::json;
use signalbox_commands::tree::{self, TreeState};
use signalbox_commands::{EventId, TreeName};

use super::AppState;

/// How many entries `/trees/{tree}/logs` returns; `/logs_all` returns all.
const LOG_LIMIT: usize = 20;

pub fn routes() -> Routes<Arc<AppState>> {
    Routes::new()
        .route("/trees", get(trees))
        .route("/trees2", get(trees2))
        .route("/trees/{tree}", get(one))
        .route("/trees/{tree}/logs", get(logs))
        .route("/trees/{tree}/logs_all", get(logs_all))
        .route("/stack", get(stack))
}

/// A tree in treestatus's shape.
#[derive(Debug, Serialize)]
pub struct TreeJson<'a> {
    pub tree: &'a str,
    pub status: &'static str,
    pub reason: &'a str,
    pub message_of_the_day: &'a str,
    pub tags: &'a [String],
    pub log_id: Option<EventId>,
}

impl<'a> From<&'a TreeState> for TreeJson<'a> {
    fn from(t: &'a TreeState) -> Self {
        TreeJson {
            tree: t.name.as_str(),
            status: t.condition.status.as_str(),
            reason: &t.condition.reason,
            message_of_the_day: &t.motd,
            tags: &t.condition.tags,
            log_id: t.log_id,
        }
    }
}

fn not_found(tree: &str) -> Response {
    let body = json!({
        "title": "Not Found",
        "status": 404,
        "detail": format!("tree \"{tree}\" is unknown"),
    });
    (StatusCode::NOT_FOUND, Json(body)).into_response()
}

async fn trees(Extract(app): Extract<Arc<AppState>>) -> Response {
    let state = app.ledger.state();
    let map: serde_json::Map<String, serde_json::Value> = state
        .trees
        .trees
        .values()
        .map(|t| (t.name.to_string(), json!(TreeJson::from(t))))
        .collect();
    Json(json!({ "result": map })).into_response()
}

async fn trees2(Extract(app): Extract<Arc<AppState>>) -> Response {
    let state = app.ledger.state();
    let list: Vec<TreeJson> = state.trees.trees.values().map(TreeJson::from).collect();
    Json(json!({ "result": list })).into_response()
}

async fn one(Extract(app): Extract<Arc<AppState>>, Path(name): Path<String>) -> Response {
    let state = app.ledger.state();
    match state.trees.get(&name) {
        Some(t) => Json(json!({ "result": TreeJson::from(t) })).into_response(),
        None => not_found(&name),
    }
}

async fn logs(app: Extract<Arc<AppState>>, name: Path<String>) -> Response {
    tree_log(app, name, LOG_LIMIT).await
}

async fn logs_all(app: Extract<Arc<AppState>>, name: Path<String>) -> Response {
    tree_log(app, name, usize::MAX).await
}

async fn tree_log(
    Extract(app): Extract<Arc<AppState>>,
    Path(name): Path<String>,
    limit: usize,
) -> Response {
    if app.ledger.state().trees.get(&name).is_none() {
        return not_found(&name);
    }
    let ledger = app.ledger.clone();
    let entries = tokio::task::spawn_blocking(move || {
        tree::log(&ledger.history(), Some(&TreeName::new(name)), limit)
    })
    .await;
    match entries {
        Ok(entries) => Json(json!({ "result": entries })).into_response(),
        Err(e) => (
            StatusCode::INTERNAL_SERVER_ERROR,
            Json(json!({ "detail": e.to_string() })),
        )
            .into_response(),
    }
}

async fn stack(Extract(app): Extract<Arc<AppState>>) -> Response {
    let state = app.ledger.state();
    let entries: Vec<serde_json::Value> = state
        .trees
        .stack
        .iter()
        .rev()
        .map(|e| {
            let after = e.edits.first().map(|x| &x.after);
            json!({
                "id": e.id,
                "trees": e.edits.iter().map(|x| x.tree.as_str()).collect::<Vec<_>>(),
                "when": e.when,
                "who": e.who,
                "status": after.map(|a| a.status.as_str()),
                "reason": after.map(|a| a.reason.as_str()),
                "tags": after.map(|a| a.tags.as_slice()),
            })
        })
        .collect();
    Json(json!({ "result": entries })).into_response()
}

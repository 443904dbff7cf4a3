//! Mozilla treestatus-compatible reads, so existing hooks and tools work
//! unchanged: `{"result": …}` wrappers, `status` spelled `open`, `closed` or
//! `approval required`, 404 for an unknown tree.

use std::sync::Arc;

use axum::Router as Routes;
use axum::body::Bytes;
use axum::extract::rejection::{PathRejection, QueryRejection};
use axum::extract::{Path, Query, State as Extract};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Json, Response};
use axum::routing::get;
use serde::Serialize;
use serde_json::json;
use signalbox_commands::tree::{self, TreeState};
use signalbox_commands::treestatus as ts;
use signalbox_commands::{
    Actor, Caller, Context, Error as CoreError, EventId, Network, State, TreeName,
};

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
        .merge(write_routes())
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

/// Writes: treestatus's API, authorised by `Authorization: Bearer TOKEN`
/// (tokens map to people in config), recorded and announced like chat.
pub fn write_routes() -> Routes<Arc<AppState>> {
    use axum::routing::{delete, patch, put};
    Routes::new()
        .route("/trees", patch(patch_trees))
        .route("/trees/{tree}", put(put_tree).delete(delete_tree))
        .route("/log/{id}", patch(patch_log))
        .route("/stack/{id}", delete(delete_stack))
        .route("/v0/trees", get(v0_trees))
        .route("/v0/trees/{tree}", get(v0_one))
}

async fn v0_trees(Extract(app): Extract<Arc<AppState>>) -> Response {
    let state = app.ledger.state();
    let map: serde_json::Map<String, serde_json::Value> = state
        .trees
        .trees
        .values()
        .map(|t| (t.name.to_string(), json!(TreeJson::from(t))))
        .collect();
    Json(map).into_response()
}

async fn v0_one(Extract(app): Extract<Arc<AppState>>, Path(name): Path<String>) -> Response {
    let state = app.ledger.state();
    match state.trees.get(&name) {
        Some(t) => Json(json!(TreeJson::from(t))).into_response(),
        None => not_found(&name),
    }
}

/// An API failure: its status and a message for the caller.
#[derive(Debug)]
pub(crate) struct Problem {
    code: StatusCode,
    detail: String,
}

pub(crate) fn problem(code: StatusCode, detail: impl Into<String>) -> Problem {
    Problem {
        code,
        detail: detail.into(),
    }
}

impl IntoResponse for Problem {
    fn into_response(self) -> Response {
        let body = json!({
            "title": self.code.canonical_reason().unwrap_or("Error"),
            "status": self.code.as_u16(),
            "detail": self.detail,
        });
        (self.code, Json(body)).into_response()
    }
}

/// The person behind the request's bearer token.
pub(crate) fn authorise(app: &AppState, headers: &HeaderMap) -> Result<(Caller, Actor), Problem> {
    let token = headers
        .get(axum::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim);
    let Some(token) = token.filter(|t| !t.is_empty()) else {
        return Err(problem(
            StatusCode::UNAUTHORIZED,
            "writes need an \"Authorization: Bearer TOKEN\" header",
        ));
    };
    let directory = app.router.directory();
    let Some(person) = directory.by_token(token) else {
        return Err(problem(
            StatusCode::UNAUTHORIZED,
            "the bearer token is not known",
        ));
    };
    let caller = directory.caller_for(person, &[]);
    let actor = Actor {
        person: Some(person.clone()),
        handle: "api".to_string(),
        network: Network::Http,
        channel: None,
    };
    Ok((caller, actor))
}

fn body<T: serde::de::DeserializeOwned>(bytes: &Bytes, empty: Option<T>) -> Result<T, Problem> {
    if bytes.iter().all(u8::is_ascii_whitespace)
        && let Some(default) = empty
    {
        return Ok(default);
    }
    serde_json::from_slice(bytes)
        .map_err(|e| problem(StatusCode::BAD_REQUEST, format!("malformed JSON body: {e}")))
}

/// Runs a write as the token's person and maps the outcome to HTTP.
async fn write<F>(app: &AppState, headers: &HeaderMap, action: F) -> Response
where
    F: Fn(&Context, &State) -> Result<signalbox_commands::Outcome, CoreError>
        + Send
        + Sync
        + 'static,
{
    let (caller, actor) = match authorise(app, headers) {
        Ok(who) => who,
        Err(problem) => return problem.into_response(),
    };
    match app.router.run_as(caller, actor, None, action).await {
        Ok(Ok(message)) => Json(json!({ "result": { "message": message } })).into_response(),
        Ok(Err(e)) => {
            let code = match &e {
                CoreError::Permission { .. } => StatusCode::FORBIDDEN,
                CoreError::NotFound(_) => StatusCode::NOT_FOUND,
                CoreError::Conflict(_) => StatusCode::CONFLICT,
                CoreError::Usage(_) | CoreError::Invalid(_) => StatusCode::BAD_REQUEST,
            };
            problem(code, e.to_string()).into_response()
        }
        Err(e) => problem(
            StatusCode::SERVICE_UNAVAILABLE,
            format!("nothing changed: {e}"),
        )
        .into_response(),
    }
}

async fn patch_trees(
    Extract(app): Extract<Arc<AppState>>,
    headers: HeaderMap,
    bytes: Bytes,
) -> Response {
    if let Err(r) = authorise(&app, &headers) {
        return r.into_response();
    }
    let patch: ts::Patch = match body(&bytes, None) {
        Ok(p) => p,
        Err(r) => return r.into_response(),
    };
    write(&app, &headers, move |ctx, state| {
        ts::patch(ctx, &state.trees, &patch)
    })
    .await
}

async fn patch_log(
    Extract(app): Extract<Arc<AppState>>,
    id: Result<Path<u64>, PathRejection>,
    headers: HeaderMap,
    bytes: Bytes,
) -> Response {
    if let Err(r) = authorise(&app, &headers) {
        return r.into_response();
    }
    let id = match id {
        Ok(Path(id)) => id,
        Err(e) => return problem(StatusCode::BAD_REQUEST, e.body_text()).into_response(),
    };
    let amendment: ts::Amendment = match body(&bytes, None) {
        Ok(a) => a,
        Err(r) => return r.into_response(),
    };
    write(&app, &headers, move |ctx, _| {
        ts::amend(ctx, ctx.history, id, &amendment)
    })
    .await
}

#[derive(Debug, serde::Deserialize)]
struct Revert {
    #[serde(default)]
    revert: u8,
}

async fn delete_stack(
    Extract(app): Extract<Arc<AppState>>,
    id: Result<Path<u64>, PathRejection>,
    revert: Result<Query<Revert>, QueryRejection>,
    headers: HeaderMap,
) -> Response {
    if let Err(r) = authorise(&app, &headers) {
        return r.into_response();
    }
    let (id, revert) = match (id, revert) {
        (Ok(Path(id)), Ok(Query(revert))) => (id, revert.revert == 1),
        (Err(e), _) => return problem(StatusCode::BAD_REQUEST, e.body_text()).into_response(),
        (_, Err(e)) => return problem(StatusCode::BAD_REQUEST, e.body_text()).into_response(),
    };
    write(&app, &headers, move |ctx, state| {
        ts::discard(ctx, &state.trees, id, revert)
    })
    .await
}

async fn put_tree(
    Extract(app): Extract<Arc<AppState>>,
    Path(name): Path<String>,
    headers: HeaderMap,
    bytes: Bytes,
) -> Response {
    if let Err(r) = authorise(&app, &headers) {
        return r.into_response();
    }
    let new: ts::NewTree = match body(&bytes, Some(ts::NewTree::default())) {
        Ok(n) => n,
        Err(r) => return r.into_response(),
    };
    write(&app, &headers, move |ctx, state| {
        ts::create(ctx, &state.trees, &name, &new)
    })
    .await
}

async fn delete_tree(
    Extract(app): Extract<Arc<AppState>>,
    Path(name): Path<String>,
    headers: HeaderMap,
) -> Response {
    write(&app, &headers, move |ctx, state| {
        ts::remove(ctx, &state.trees, &name)
    })
    .await
}

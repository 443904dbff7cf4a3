//! The HTTP server: the treestatus-compatible API that CI hooks read, the
//! health check, and the status board. Every read comes from the ledger's
//! latest durable state, so what HTTP shows was acknowledged.

#[cfg(feature = "discord")]
pub mod discord;
pub mod treestatus;

use std::sync::Arc;

use axum::Router as Routes;
use axum::extract::State as Extract;
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Json};
use axum::routing::get;
use serde_json::json;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::adapter::HealthBoard;
use crate::ledger::Ledger;

#[derive(Clone)]
pub struct AppState {
    pub ledger: Ledger,
    pub health: HealthBoard,
    pub timezone: chrono_tz::Tz,
    #[cfg(feature = "discord")]
    pub discord: Option<Arc<crate::adapter::discord::Discord>>,
}

pub fn routes(state: AppState) -> Routes {
    let routes = Routes::new()
        .route("/", get(board))
        .route("/healthz", get(healthz))
        .merge(treestatus::routes());
    #[cfg(feature = "discord")]
    let routes = routes.merge(discord::routes());
    routes.with_state(Arc::new(state))
}

/// Serves until `shutdown`.
pub async fn serve(
    listener: TcpListener,
    state: AppState,
    shutdown: CancellationToken,
) -> std::io::Result<()> {
    axum::serve(listener, routes(state))
        .with_graceful_shutdown(shutdown.cancelled_owned())
        .await
}

async fn healthz(Extract(app): Extract<Arc<AppState>>) -> impl IntoResponse {
    let ledger_ok = app.ledger.is_healthy();
    let adapters = app.health.snapshot();
    let code = if ledger_ok {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    let body = json!({
        "status": if ledger_ok { "ok" } else { "failing" },
        "ledger": if ledger_ok { "ok" } else { "cannot write" },
        "adapters": adapters,
    });
    (code, Json(body))
}

/// A minimal status board; it reloads itself every few seconds.
async fn board(Extract(app): Extract<Arc<AppState>>) -> Html<String> {
    let state = app.ledger.state();
    let rows: String = state
        .trees
        .trees
        .values()
        .map(|t| {
            let c = &t.condition;
            format!(
                "<tr class=\"{}\"><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                c.status.as_str().replace(' ', "-"),
                escape(t.name.as_str()),
                c.status.as_str(),
                escape(&c.reason),
                escape(&c.tags.join(", ")),
                t.by.as_deref().map(escape).unwrap_or_default(),
            )
        })
        .collect();
    Html(format!(
        "<!doctype html><html><head><meta charset=\"utf-8\"><meta http-equiv=\"refresh\" content=\"2\">\
         <title>signalbox</title><style>body{{font-family:sans-serif}}td,th{{padding:4px 10px;text-align:left}}\
         .closed{{background:#f8d0d0}}.approval-required{{background:#fbeec0}}.open{{background:#d8f0d8}}</style></head>\
         <body><h1>signalbox</h1><h2>trees</h2><table><tr><th>tree</th><th>status</th><th>reason</th><th>tags</th><th>by</th></tr>{rows}</table></body></html>"
    ))
}

pub(crate) fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

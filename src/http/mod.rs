//! The HTTP server: the treestatus-compatible API that CI hooks read, the
//! health check, and the status board. Every read comes from the ledger's
//! latest durable state, so what HTTP shows was acknowledged.

pub mod api;
pub mod audit;
pub mod calendar;
pub mod chart;
pub mod dashboard;
#[cfg(feature = "discord")]
pub mod discord;
pub mod export;
pub mod meetings;
pub mod oncall;
pub mod openapi;
#[cfg(feature = "slack")]
pub mod slack;
pub mod stats;
pub mod treestatus;

use std::sync::Arc;

use axum::Router as Routes;
use axum::extract::State as Extract;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Json};
use axum::routing::get;
use serde_json::json;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::adapter::HealthBoard;
use crate::ledger::Ledger;

#[derive(Clone)]
pub struct AppState {
    pub ledger: Ledger,
    pub router: Arc<crate::router::Router>,
    pub health: HealthBoard,
    pub timezone: chrono_tz::Tz,
    pub settings: Arc<signalbox_commands::Settings>,
    pub clock: Arc<dyn crate::clock::Clock>,
    /// The calendar feeds' token, emails and SEQUENCE index.
    pub calendar: Arc<calendar::Calendars>,
    /// Long replies, shown whole at `/r/{id}`.
    pub pages: crate::pages::Pages,
    /// Slack's HTTP mode, when configured.
    #[cfg(feature = "slack")]
    pub slack: Option<Arc<slack::Endpoint>>,
    #[cfg(feature = "discord")]
    pub discord: Option<Arc<crate::adapter::discord::Discord>>,
}

pub fn routes(state: AppState) -> Routes {
    let routes = Routes::new()
        .merge(dashboard::routes())
        .route("/healthz", get(healthz))
        .route("/metrics", get(metrics))
        .route("/r/{id}", get(page))
        .route("/api/openapi.json", get(openapi::serve))
        .merge(treestatus::routes())
        .merge(audit::routes())
        .merge(export::routes())
        .merge(oncall::routes())
        .merge(calendar::routes())
        .merge(meetings::routes())
        .merge(api::routes())
        .merge(stats::routes());
    #[cfg(feature = "slack")]
    let routes = routes.merge(slack::routes());
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

/// A long reply in full, as plain text, while it is kept (a day).
async fn page(
    Extract(app): Extract<Arc<AppState>>,
    axum::extract::Path(id): axum::extract::Path<String>,
) -> axum::response::Response {
    match app.pages.get(&id) {
        Some(text) => (
            [(
                axum::http::header::CONTENT_TYPE,
                "text/plain; charset=utf-8",
            )],
            text + "\n",
        )
            .into_response(),
        None => (
            StatusCode::NOT_FOUND,
            [(
                axum::http::header::CONTENT_TYPE,
                "text/plain; charset=utf-8",
            )],
            format!(
                "page \"{}\" is unknown or expired; long replies are kept for a day\n",
                signalbox_commands::words::shortened(&id, 40)
            ),
        )
            .into_response(),
    }
}

async fn metrics() -> impl IntoResponse {
    (
        [(
            axum::http::header::CONTENT_TYPE,
            "text/plain; version=0.0.4",
        )],
        crate::metrics::render(),
    )
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

pub(crate) fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

//! `POST /discord/interactions`: Discord's HTTP interactions endpoint, for
//! deployments that take slash commands over HTTP instead of the gateway.
//! Every request is verified with the application's Ed25519 public key
//! before anything is parsed; an unsigned or wrongly signed request gets 401
//! and runs nothing (Discord itself probes the endpoint with bad signatures
//! and refuses to save it unless they are refused). PING is answered with
//! PONG; a command is answered by the adapter.

use std::sync::Arc;

use axum::Router as Routes;
use axum::body::Bytes;
use axum::extract::State as Extract;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Json, Response};
use axum::routing::post;
use serde_json::json;
use serenity::all::Interaction;

use super::AppState;

pub fn routes() -> Routes<Arc<AppState>> {
    Routes::new().route("/discord/interactions", post(interactions))
}

async fn interactions(
    Extract(app): Extract<Arc<AppState>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let Some(discord) = &app.discord else {
        return (StatusCode::NOT_FOUND, "discord is not configured").into_response();
    };
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    if let Err(e) = discord.verify(
        header("x-signature-ed25519"),
        header("x-signature-timestamp"),
        &body,
    ) {
        tracing::debug!("discord interaction refused: {e}");
        return (StatusCode::UNAUTHORIZED, e.to_string()).into_response();
    }
    let interaction: Interaction = match serde_json::from_slice(&body) {
        Ok(i) => i,
        Err(e) => {
            return (
                StatusCode::BAD_REQUEST,
                format!("not a discord interaction: {e}"),
            )
                .into_response();
        }
    };
    match interaction {
        Interaction::Ping(_) => Json(json!({ "type": 1 })).into_response(),
        Interaction::Command(command) => Json(discord.answer(command).await).into_response(),
        _ => (
            StatusCode::BAD_REQUEST,
            "only application commands are handled",
        )
            .into_response(),
    }
}

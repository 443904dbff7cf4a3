//! Socket Mode: `apps.connections.open` (with the app-level token) hands out
//! a websocket URL; Slack sends `hello`, then envelopes (`slash_commands`,
//! `events_api`, `interactive`), and `disconnect` when it wants the bot to
//! move to a fresh connection. Every envelope is acknowledged with its
//! `envelope_id` once its change is durable (at most [`super::ACK_BUDGET`]
//! later); an envelope Slack never saw acknowledged comes again, with the
//! same id, and the ledger runs it once.
//!
//! A `disconnect` reconnects at once; a failure reconnects after a backoff
//! that doubles up to a minute and starts over once a connection said
//! `hello`. `/healthz` shows `reconnecting` with the error meanwhile.

use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use hyper_util::client::legacy::connect::Connect;
use serde::Deserialize;
use signalbox_commands::Network;
use slack_morphism::prelude::*;
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::Message;
use tokio_util::sync::CancellationToken;

use super::{Client, Core, EventCallback, Inbox, SlashCommand, ack_when_done};
use crate::adapter::HealthBoard;
use crate::backoff::Backoff;

/// How often the bot pings Slack.
const PING_EVERY: Duration = Duration::from_secs(30);
/// A connection with no frame for this long is dead.
const DEAD_AFTER: Duration = Duration::from_secs(100);
/// The longest wait between two connection attempts.
const MAX_BACKOFF: Duration = Duration::from_secs(60);

/// One frame from Slack.
#[derive(Debug, Deserialize)]
struct Envelope {
    #[serde(rename = "type")]
    kind: String,
    envelope_id: Option<String>,
    #[serde(default)]
    payload: serde_json::Value,
    reason: Option<String>,
}

/// How a connection ended without an error.
enum End {
    Shutdown,
    /// Slack sent `disconnect`: connect again now.
    Refresh,
}

/// Keeps a Socket Mode connection up until `shutdown`.
pub(super) async fn run<H: Connect + Clone + Send + Sync + 'static>(
    core: &Arc<Core<H>>,
    client: &Client<H>,
    token: &SlackApiToken,
    health: &HealthBoard,
    first_backoff: Duration,
    shutdown: &CancellationToken,
) {
    let mut backoff = Backoff::new(first_backoff, MAX_BACKOFF);
    health.set(Network::Slack, "connecting", None);
    while !shutdown.is_cancelled() {
        let mut hello = false;
        match session(core, client, token, health, shutdown, &mut hello).await {
            Ok(End::Shutdown) => return,
            Ok(End::Refresh) => {
                tracing::info!("slack asked for a new socket mode connection");
                backoff.succeeded();
            }
            Err(error) => {
                if hello {
                    backoff.succeeded();
                }
                let wait = backoff.failed();
                tracing::warn!("slack socket mode: {error}; reconnecting in {wait:?}");
                health.set(Network::Slack, "reconnecting", Some(error));
                tokio::select! {
                    _ = shutdown.cancelled() => return,
                    _ = tokio::time::sleep(wait) => {}
                }
            }
        }
    }
}

/// One connection, from `apps.connections.open` to its end.
async fn session<H: Connect + Clone + Send + Sync + 'static>(
    core: &Arc<Core<H>>,
    client: &Client<H>,
    token: &SlackApiToken,
    health: &HealthBoard,
    shutdown: &CancellationToken,
    hello: &mut bool,
) -> Result<End, String> {
    let opened = client
        .open_session(token)
        .apps_connections_open(&SlackApiAppsConnectionOpenRequest::new())
        .await
        .map_err(|e| format!("apps.connections.open failed: {e}"))?;
    let url = opened.url.0.to_string();
    let (ws, _) = tokio::select! {
        _ = shutdown.cancelled() => return Ok(End::Shutdown),
        connected = tokio_tungstenite::connect_async(url.as_str()) => {
            connected.map_err(|e| format!("websocket connect failed: {e}"))?
        }
    };
    let (mut write, mut read) = ws.split();
    let (acks, mut to_ack) = mpsc::unbounded_channel::<String>();
    let mut ping = tokio::time::interval(PING_EVERY);
    ping.tick().await;
    let mut last_seen = Instant::now();
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => {
                let _ = write.send(Message::Close(None)).await;
                return Ok(End::Shutdown);
            }
            Some(ack) = to_ack.recv() => {
                write
                    .send(Message::Text(ack.into()))
                    .await
                    .map_err(|e| format!("acknowledgement failed: {e}"))?;
            }
            _ = ping.tick() => {
                if last_seen.elapsed() > DEAD_AFTER {
                    return Err(format!("nothing from slack for {}s", last_seen.elapsed().as_secs()));
                }
                write
                    .send(Message::Ping(Vec::new().into()))
                    .await
                    .map_err(|e| format!("ping failed: {e}"))?;
            }
            frame = read.next() => {
                last_seen = Instant::now();
                match frame {
                    None => return Err("connection closed".to_string()),
                    Some(Err(e)) => return Err(format!("websocket error: {e}")),
                    Some(Ok(Message::Close(frame))) => {
                        return Err(format!("connection closed by slack ({frame:?})"));
                    }
                    Some(Ok(Message::Text(text))) => {
                        if let Some(end) = envelope(core, health, text.as_str(), &acks, hello) {
                            return Ok(end);
                        }
                    }
                    // Pings are answered by tungstenite; pongs only count as traffic.
                    Some(Ok(_)) => {}
                }
            }
        }
    }
}

/// Handles one text frame; `Some` when the connection should end.
fn envelope<H: Connect + Clone + Send + Sync + 'static>(
    core: &Arc<Core<H>>,
    health: &HealthBoard,
    text: &str,
    acks: &mpsc::UnboundedSender<String>,
    hello: &mut bool,
) -> Option<End> {
    let envelope: Envelope = match serde_json::from_str(text) {
        Ok(e) => e,
        Err(e) => {
            tracing::warn!("slack sent a frame that is not an envelope: {e}");
            return None;
        }
    };
    let ack = envelope
        .envelope_id
        .as_ref()
        .map(|id| serde_json::json!({ "envelope_id": id }).to_string());
    match envelope.kind.as_str() {
        "hello" => {
            *hello = true;
            health.set(Network::Slack, "connected", None);
            tracing::info!("slack socket mode connected");
        }
        "disconnect" => {
            tracing::debug!(reason = ?envelope.reason, "slack disconnect");
            return Some(End::Refresh);
        }
        "slash_commands" => {
            match serde_json::from_value::<SlashCommand>(envelope.payload) {
                Ok(command) => {
                    let done = core.clone().command(command, envelope.envelope_id);
                    acknowledge_later(done, ack, acks);
                }
                Err(e) => {
                    // It would not parse better when sent again.
                    tracing::warn!("slack slash command not understood: {e}");
                    send(acks, ack);
                }
            }
        }
        "events_api" => match serde_json::from_value::<EventCallback>(envelope.payload) {
            Ok(callback) => {
                let done = core.clone().event(callback);
                acknowledge_later(done, ack, acks);
            }
            Err(e) => {
                tracing::debug!("slack event ignored: {e}");
                send(acks, ack);
            }
        },
        // No interactive components yet; everything else is acknowledged.
        _ => send(acks, ack),
    }
    None
}

fn acknowledge_later(
    done: tokio::sync::oneshot::Receiver<()>,
    ack: Option<String>,
    acks: &mpsc::UnboundedSender<String>,
) {
    let acks = acks.clone();
    tokio::spawn(async move {
        ack_when_done(done).await;
        // A closed connection drops the ack; Slack then sends the envelope
        // again on the next connection, and the ledger runs it once.
        send(&acks, ack);
    });
}

fn send(acks: &mpsc::UnboundedSender<String>, ack: Option<String>) {
    if let Some(ack) = ack {
        let _ = acks.send(ack);
    }
}

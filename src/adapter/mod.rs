//! Adapters translate between a chat network and the router; they never
//! decide. Each runs until shutdown, hands every message it receives to the
//! router, and sends what the outbox or the router gives it. A supervisor
//! restarts an adapter that fails, with backoff, without touching the others.

pub mod budget;
pub mod console;
#[cfg(feature = "discord")]
pub mod discord;
#[cfg(feature = "irc")]
pub mod irc;
#[cfg(feature = "matrix")]
pub mod matrix;
#[cfg(feature = "slack")]
pub mod slack;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::Serialize;
use signalbox_commands::Network;
use tokio_util::sync::CancellationToken;

use crate::backoff::Backoff;
use crate::outbox::Destination;
use crate::router::Router;

/// Why a send failed. The outbox retries `Disconnected` and `Failed`;
/// `Rejected` it drops, so that one message the network will never take
/// (a deleted channel, a channel the bot was removed from) does not hold up
/// every announcement queued behind it.
#[derive(Debug, Clone, thiserror::Error)]
pub enum SendError {
    #[error("not connected")]
    Disconnected,
    #[error("{0}")]
    Failed(String),
    /// The network answered that this message cannot be delivered, ever.
    #[error("{0}")]
    Rejected(String),
}

impl SendError {
    /// The error for an HTTP API's answer: a 4xx other than 429 (unknown
    /// channel, missing access) will not change on retry, so it is
    /// `Rejected`; anything else, or no answer at all, is worth a retry.
    pub fn from_status(status: Option<u16>, message: String) -> SendError {
        match status {
            Some(s) if (400..500).contains(&s) && s != 429 => SendError::Rejected(message),
            _ => SendError::Failed(message),
        }
    }
}

#[async_trait]
pub trait Adapter: Send + Sync + 'static {
    fn network(&self) -> Network;

    /// Connects and serves until `shutdown`; an error makes the supervisor
    /// reconnect after a backoff.
    async fn run(
        self: Arc<Self>,
        router: Arc<Router>,
        shutdown: CancellationToken,
    ) -> anyhow::Result<()>;

    /// Sends one message. A private reply becomes whatever the network
    /// offers (a DM on IRC, an ephemeral message on Slack).
    async fn send(&self, to: &Destination, text: &str) -> Result<(), SendError>;

    /// Sends one outbox entry; `key` is unique to the entry, so a network
    /// that deduplicates retried sends (Matrix transaction ids, Discord
    /// nonces) can turn a retry after a lost answer or a crash into a
    /// no-op. `in_flight` says an earlier attempt may have reached the
    /// network (only for adapters that ask for [`Adapter::marks_in_flight`]).
    async fn send_once(
        &self,
        to: &Destination,
        text: &str,
        key: &str,
        in_flight: bool,
    ) -> Result<(), SendError> {
        let _ = (key, in_flight);
        self.send(to, text).await
    }

    /// Whether [`Adapter::send_once`] needs to know that an entry may have
    /// been sent before (Slack then looks for it before posting again). The
    /// outbox then marks each entry durably before its first send, which
    /// costs a flush per message, so only an adapter that uses the mark
    /// asks for it.
    fn marks_in_flight(&self) -> bool {
        false
    }
}

/// Per-adapter connection state, shown by `/healthz`.
#[derive(Debug, Clone, Serialize)]
pub struct AdapterHealth {
    pub state: &'static str,
    pub since: DateTime<Utc>,
    pub last_error: Option<String>,
    pub restarts: u64,
}

#[derive(Debug, Clone, Default)]
pub struct HealthBoard(Arc<Mutex<BTreeMap<Network, AdapterHealth>>>);

impl HealthBoard {
    pub fn set(&self, network: Network, state: &'static str, error: Option<String>) {
        let mut map = self
            .0
            .lock()
            .expect("health board lock is never poisoned: no panics while held");
        let reconnecting = state == "reconnecting";
        let restarts = map.get(&network).map_or(0, |h| h.restarts) + u64::from(reconnecting);
        crate::metrics::adapter_state(network, state == "connected");
        if reconnecting {
            crate::metrics::adapter_restart(network);
        }
        map.insert(
            network,
            AdapterHealth {
                state,
                since: Utc::now(),
                last_error: error,
                restarts,
            },
        );
    }

    pub fn snapshot(&self) -> BTreeMap<Network, AdapterHealth> {
        self.0
            .lock()
            .expect("health board lock is never poisoned: no panics while held")
            .clone()
    }
}

/// Starts every network adapter the config names, each supervised and with
/// its outbox delivery. The console is started by the caller.
pub fn start_configured(
    bot: &crate::Bot,
    shutdown: &CancellationToken,
) -> Vec<tokio::task::JoinHandle<()>> {
    // Each network feature adds its adapter here when its table is present.
    #[allow(unused_mut)]
    let mut adapters: Vec<Arc<dyn Adapter>> = Vec::new();
    #[cfg(feature = "slack")]
    if let Some(config) = &bot.config.adapters.slack {
        match slack::from_config(config, bot.router.clone(), bot.health.clone()) {
            Ok((adapter, _)) => adapters.push(adapter),
            Err(e) => tracing::error!("slack adapter not started: {e}"),
        }
    }
    #[cfg(feature = "discord")]
    adapters.extend(bot.discord.clone().map(|d| d as Arc<dyn Adapter>));
    #[cfg(feature = "irc")]
    if let Some(config) = &bot.config.adapters.irc {
        adapters.push(Arc::new(
            irc::Irc::new(
                config.clone(),
                Some(bot.health.clone()),
                dashboard_url(&bot.config),
            )
            .with_pages(bot.pages.clone()),
        ));
    }
    #[cfg(feature = "matrix")]
    if let Some(config) = &bot.config.adapters.matrix {
        adapters.push(Arc::new(matrix::Matrix::new(
            config.clone(),
            &bot.config.bot.data_dir,
            Some(bot.health.clone()),
        )));
    }
    let mut tasks = Vec::new();
    for adapter in adapters {
        tasks.push(bot.deliver(adapter.clone(), shutdown));
        tasks.push(tokio::spawn(supervise(
            adapter,
            bot.router.clone(),
            bot.health.clone(),
            shutdown.clone(),
        )));
    }
    tasks
}

/// Where people can read what chat output leaves out (folded replies).
pub fn dashboard_url(config: &crate::config::Config) -> String {
    config
        .http
        .public_url
        .clone()
        .unwrap_or_else(|| format!("http://{}/", config.http.listen))
}

/// Runs `adapter` until shutdown, restarting it with exponential backoff.
pub async fn supervise(
    adapter: Arc<dyn Adapter>,
    router: Arc<Router>,
    health: HealthBoard,
    shutdown: CancellationToken,
) {
    const LAST_RETRY: Duration = Duration::from_secs(60);
    let network = adapter.network();
    let mut backoff = Backoff::new(Duration::from_millis(500), LAST_RETRY);
    loop {
        health.set(network, "connected", None);
        let started = tokio::time::Instant::now();
        let result = adapter.clone().run(router.clone(), shutdown.clone()).await;
        // A run that lasted a while was healthy: the next failure is a new
        // incident and starts over from the short delay.
        if started.elapsed() >= LAST_RETRY {
            backoff.succeeded();
        }
        if shutdown.is_cancelled() {
            health.set(network, "stopped", None);
            return;
        }
        let error = match result {
            Ok(()) => "adapter stopped".to_string(),
            Err(e) => format!("{e:#}"),
        };
        let wait = backoff.failed();
        tracing::warn!(%network, "adapter failed: {error}; restarting in {wait:?}");
        health.set(network, "reconnecting", Some(error));
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = tokio::time::sleep(wait) => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn client_errors_but_429_are_rejected_and_the_rest_retried() {
        let kind = |status| match SendError::from_status(status, "x".into()) {
            SendError::Rejected(_) => "rejected",
            SendError::Failed(_) => "failed",
            SendError::Disconnected => "disconnected",
        };
        for status in [400, 403, 404] {
            assert_eq!(kind(Some(status)), "rejected", "{status}");
        }
        for status in [Some(429), Some(500), Some(502), Some(302), None] {
            assert_eq!(kind(status), "failed", "{status:?}");
        }
    }
}

//! The announcement outbox. An announcement is written to the ledger in the
//! same batch as the change that caused it, so a crash can lose neither
//! without the other. One delivery task per network sends its entries in
//! order, removes each once the adapter has taken it, and retries the rest
//! with backoff after an outage or a restart.
//!
//! Exactly-once is at-least-once plus removal: the window for a duplicate is
//! a crash between the network accepting a message and the removal being
//! flushed. A message the network rejects for good (`SendError::Rejected`)
//! is logged, counted and removed, so it cannot block the queue.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use signalbox_commands::{ChannelAddr, EventId, Network, PlatformUserId};
use tokio_util::sync::CancellationToken;

use crate::adapter::{Adapter, SendError};
use crate::backoff::Backoff;
use crate::ledger::{LedgerError, OUTBOX, key};

/// Where a message goes.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Destination {
    Channel(ChannelAddr),
    /// A direct message to a user on one network.
    Direct {
        network: Network,
        user: PlatformUserId,
    },
    /// The topic of a channel: the text replaces it.
    Topic(ChannelAddr),
}

impl Destination {
    pub fn network(&self) -> Network {
        match self {
            Destination::Channel(c) | Destination::Topic(c) => c.network(),
            Destination::Direct { network, .. } => *network,
        }
    }
}

impl std::fmt::Display for Destination {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Destination::Channel(c) => write!(f, "{c}"),
            Destination::Direct { network, user } => write!(f, "{network}:@{user}"),
            Destination::Topic(c) => write!(f, "{c} (topic)"),
        }
    }
}

/// One undelivered message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Entry {
    pub seq: u64,
    /// The event that caused it.
    pub event: EventId,
    pub to: Destination,
    pub text: String,
    pub created: DateTime<Utc>,
}

/// Undelivered entries, oldest first, for one network or all.
pub fn pending_in(tree: &sled::Tree, network: Option<Network>) -> Result<Vec<Entry>, LedgerError> {
    let mut out = Vec::new();
    for kv in tree.scan_prefix(OUTBOX) {
        let (_, v) = kv.map_err(|e| LedgerError::Corrupt(e.to_string()))?;
        let entry: Entry =
            serde_json::from_slice(&v).map_err(|e| LedgerError::Corrupt(e.to_string()))?;
        if network.is_none_or(|n| entry.to.network() == n) {
            out.push(entry);
        }
    }
    Ok(out)
}

/// Removes a delivered or rejected entry, durably (so a restart does not
/// send it again).
fn remove(tree: &sled::Tree, seq: u64) -> Result<(), LedgerError> {
    tree.remove(key(OUTBOX, seq))
        .map_err(|e| LedgerError::Write(e.to_string()))?;
    tree.flush()
        .map_err(|e| LedgerError::Write(e.to_string()))?;
    Ok(())
}

/// Delivers one network's entries through its adapter until `shutdown`.
pub async fn deliver(
    ledger: crate::ledger::Ledger,
    adapter: Arc<dyn Adapter>,
    shutdown: CancellationToken,
) {
    let network = adapter.network();
    let changed = ledger.outbox_changed();
    let mut backoff = Backoff::new(Duration::from_millis(500), Duration::from_secs(30));
    loop {
        let notified = changed.notified();
        tokio::pin!(notified);
        notified.as_mut().enable();
        let mut failed = false;
        match ledger.pending(Some(network)) {
            Ok(entries) => {
                crate::metrics::outbox_depth(network, entries.len());
                for entry in entries {
                    let key = format!("{}-{}", entry.event.0, entry.seq);
                    let done = match adapter.send_once(&entry.to, &entry.text, &key).await {
                        Ok(()) => {
                            crate::metrics::outbox_delivered(network);
                            true
                        }
                        Err(SendError::Rejected(e)) => {
                            tracing::error!(%network, to = %entry.to, text = %entry.text, "dropped an announcement the network will not take: {e}");
                            crate::metrics::outbox_rejected(network);
                            true
                        }
                        Err(e) => {
                            tracing::warn!(%network, to = %entry.to, "delivery failed, will retry: {e}");
                            crate::metrics::outbox_failed(network);
                            false
                        }
                    };
                    if !done {
                        failed = true;
                        break;
                    }
                    if let Err(e) = remove(ledger.tree(), entry.seq) {
                        tracing::error!(%network, "cannot remove outbox entry {}: {e}", entry.seq);
                    }
                }
            }
            Err(e) => {
                tracing::error!(%network, "cannot read the outbox: {e}");
                failed = true;
            }
        }
        let wait = if failed {
            backoff.failed()
        } else {
            backoff.succeeded();
            Duration::from_secs(5)
        };
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = &mut notified, if !failed => {}
            _ = tokio::time::sleep(wait) => {}
        }
    }
}

/// Waits until no entry for `network` is left (bounded by `limit`).
pub async fn drained(ledger: &crate::ledger::Ledger, network: Network, limit: Duration) -> bool {
    let deadline = tokio::time::Instant::now() + limit;
    loop {
        match ledger.pending(Some(network)) {
            Ok(entries) if entries.is_empty() => return true,
            Ok(_) => {}
            Err(_) => return false,
        }
        if tokio::time::Instant::now() >= deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

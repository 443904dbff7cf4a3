//! The announcement outbox. An announcement is written to the ledger in the
//! same batch as the change that caused it, so a crash can lose neither
//! without the other. One delivery task per network sends its entries in
//! order, removes each once the adapter has taken it, and retries the rest
//! with backoff after an outage or a restart. Removals and in-flight marks
//! are written by the ledger's writer in its next batch, like every other
//! write, so a snapshot never sees half of one.
//!
//! Exactly-once is at-least-once plus removal plus the network's own
//! idempotency. The window for a duplicate is a crash (or a lost answer)
//! between the network accepting a message and the removal being flushed;
//! what closes it is a key unique to the entry (`{event}-{seq}`: outbox
//! sequence numbers start over once the outbox is empty, event ids never
//! do) that the adapter hands to the network:
//!
//! - Matrix: the key is the transaction id; Synapse answers a resend with
//!   the event it already has.
//! - Discord: a nonce derived from the key with `enforce_nonce`; Discord
//!   answers a resend within a few minutes with the message it already has.
//! - Slack: the key travels in the message's `metadata`, and before posting
//!   an entry that may have been sent already the adapter looks for it among
//!   the channel's recent messages. Only this needs to know that an earlier
//!   attempt may have reached Slack, so only for adapters that ask
//!   ([`Adapter::marks_in_flight`]) is an entry marked in flight, durably,
//!   before its first send: one more flush per message, paid where it buys
//!   something.
//! - IRC has no such thing: after a crash in the window, the announcement in
//!   flight may repeat.
//!
//! A message the network rejects for good (`SendError::Rejected`) is logged,
//! counted and removed, so it cannot block the queue.
//!
//! `SIGNALBOX_FAULT=hang-after-send` (tests only) makes the delivery task
//! stop for good after its first accepted send, before the removal, so a
//! test can `kill -9` the process inside the window.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use signalbox_commands::{ChannelAddr, EventId, Network, PlatformUserId};
use tokio_util::sync::CancellationToken;

use crate::adapter::{Adapter, SendError};
use crate::backoff::Backoff;

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
    /// An attempt to send it has started, so the network may have it
    /// already (written only for adapters that ask, see the module doc).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub in_flight: bool,
}

impl Entry {
    /// The key the network deduplicates on: unique for the ledger's life.
    pub fn key(&self) -> String {
        format!("{}-{}", self.event.0, self.seq)
    }
}

/// Whether the test-only fault `hang-after-send` is set (module doc).
fn hang_after_send() -> bool {
    std::env::var("SIGNALBOX_FAULT").is_ok_and(|f| f == "hang-after-send")
}

/// Delivers one network's entries through its adapter until `shutdown`.
pub async fn deliver(
    ledger: crate::ledger::Ledger,
    adapter: Arc<dyn Adapter>,
    shutdown: CancellationToken,
) {
    let network = adapter.network();
    let marks = adapter.marks_in_flight();
    let hang = hang_after_send();
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
                    if marks && !entry.in_flight {
                        // Unmarked, a crash after the send would resend
                        // blindly: better to wait, as for a failed send.
                        if let Err(e) = ledger.mark_in_flight(&entry).await {
                            tracing::error!(%network, "cannot mark outbox entry {} in flight: {e}", entry.seq);
                            failed = true;
                            break;
                        }
                    }
                    let sent = adapter
                        .send_once(&entry.to, &entry.text, &entry.key(), entry.in_flight)
                        .await;
                    let done = match sent {
                        Ok(()) => {
                            crate::metrics::outbox_delivered(network);
                            if hang {
                                tracing::warn!(%network, "SIGNALBOX_FAULT=hang-after-send: entry {} sent, not removed", entry.seq);
                                std::future::pending::<()>().await;
                            }
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
                    if let Err(e) = ledger.remove_delivered(entry.seq).await {
                        // Left in place it is sent again, after a backoff
                        // rather than at once.
                        tracing::error!(%network, "cannot remove outbox entry {}: {e}", entry.seq);
                        failed = true;
                        break;
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

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use async_trait::async_trait;
    use signalbox_commands::{Actor, Change, ChannelAddr, TreeName};

    use super::*;
    use crate::ledger::{Draft, Ledger};
    use crate::router::Router;

    /// What one send saw: the key, whether it was told the entry is in
    /// flight, and whether the store had it marked at that moment.
    type Seen = (String, bool, bool);

    /// An adapter whose first send fails after the network took it (a
    /// lost answer), and which records what every send saw.
    struct Lossy {
        marks: bool,
        ledger: Ledger,
        seen: Mutex<Vec<Seen>>,
    }

    #[async_trait]
    impl Adapter for Lossy {
        fn network(&self) -> Network {
            Network::Slack
        }

        async fn run(
            self: Arc<Self>,
            _router: Arc<Router>,
            _shutdown: CancellationToken,
        ) -> anyhow::Result<()> {
            Ok(())
        }

        async fn send(&self, _to: &Destination, _text: &str) -> Result<(), SendError> {
            unreachable!("the outbox sends with send_once")
        }

        async fn send_once(
            &self,
            _to: &Destination,
            _text: &str,
            key: &str,
            in_flight: bool,
        ) -> Result<(), SendError> {
            let stored = self.ledger.pending(None).expect("outbox readable");
            let marked = stored.iter().all(|e| e.in_flight);
            let mut seen = self.seen.lock().expect("lock");
            seen.push((key.to_string(), in_flight, marked));
            if seen.len() == 1 {
                return Err(SendError::Failed("the answer was lost".into()));
            }
            Ok(())
        }

        fn marks_in_flight(&self) -> bool {
            self.marks
        }
    }

    /// Queues one announcement and delivers it through a [`Lossy`].
    async fn deliver_once_lost(marks: bool) -> (Vec<Seen>, EventId) {
        let dir = tempfile::tempdir().expect("tempdir");
        let ledger = Ledger::open(dir.path()).expect("ledger");
        let event = ledger
            .transact(|_, _, id| {
                let draft = Draft {
                    at: Utc::now(),
                    actor: Actor::scheduler("test"),
                    changes: vec![Change::Tree(signalbox_commands::tree::Change::Add {
                        tree: TreeName::new("autoland"),
                    })],
                    outbox: vec![(
                        Destination::Channel(ChannelAddr::new(Network::Slack, "C1")),
                        "autoland is closed".into(),
                    )],
                };
                (Some(draft), id)
            })
            .await
            .expect("queued");
        let adapter = Arc::new(Lossy {
            marks,
            ledger: ledger.clone(),
            seen: Mutex::default(),
        });
        let shutdown = CancellationToken::new();
        let task = tokio::spawn(deliver(ledger.clone(), adapter.clone(), shutdown.clone()));
        assert!(drained(&ledger, Network::Slack, Duration::from_secs(10)).await);
        shutdown.cancel();
        task.await.expect("delivery task ends");
        let seen = adapter.seen.lock().expect("lock").clone();
        (seen, event)
    }

    #[tokio::test]
    async fn an_entry_is_marked_in_flight_before_its_first_send_and_resent_as_such() {
        let (seen, event) = deliver_once_lost(true).await;
        let key = format!("{}-1", event.0);
        assert_eq!(
            seen,
            [(key.clone(), false, true), (key, true, true)],
            "marked durably before the first send; the retry knows"
        );
    }

    #[tokio::test]
    async fn adapters_that_do_not_ask_pay_no_mark() {
        let (seen, event) = deliver_once_lost(false).await;
        let key = format!("{}-1", event.0);
        assert_eq!(seen, [(key.clone(), false, false), (key, false, false)]);
    }

    #[test]
    fn entries_without_the_mark_read_and_write_as_before() {
        let old = r#"{"seq":7,"event":3,"to":{"channel":"slack:C1"},"text":"hi","created":"2026-01-01T00:00:00Z"}"#;
        let entry: Entry = serde_json::from_str(old).expect("an entry from before the mark");
        assert!(!entry.in_flight);
        assert_eq!(entry.key(), "3-7");
        let again = serde_json::to_string(&entry).expect("serializes");
        assert!(!again.contains("in_flight"), "{again}");
        let marked = Entry {
            in_flight: true,
            ..entry
        };
        let text = serde_json::to_string(&marked).expect("serializes");
        let back: Entry = serde_json::from_str(&text).expect("reads back");
        assert!(back.in_flight, "{text}");
    }
}

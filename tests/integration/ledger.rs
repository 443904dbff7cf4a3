//! The ledger's own promises: a message id runs once, also across restarts.

use std::sync::Arc;

use signalbox::clock::ManualClock;
use signalbox::router::Inbound;
use signalbox_commands::{ChannelAddr, Network, PlatformUserId};

use crate::common::{at, bot, event_count};

fn message(id: &str, text: &str) -> Inbound {
    Inbound {
        network: Network::Console,
        channel: Some(ChannelAddr::new(Network::Console, "#ops")),
        user: PlatformUserId::new("alice"),
        text: text.to_string(),
        id: Some(id.to_string()),
        aliases: Vec::new(),
    }
}

#[tokio::test]
async fn a_redelivered_message_runs_once_even_after_a_restart() {
    let dir = tempfile::tempdir().expect("tempdir");
    let clock = Arc::new(ManualClock::new(at("2026-11-22T10:00:00Z")));
    let close = message("m1", "!tree close autoland bustage #infra");
    {
        let bot = bot(dir.path(), "", clock.clone()).await;
        let events = event_count(&bot);
        let first = bot
            .router
            .dispatch(&close)
            .await
            .expect("first delivery answered");
        assert!(first.starts_with("closed autoland"), "{first}");
        assert_eq!(
            bot.router.dispatch(&close).await,
            None,
            "second delivery is silent"
        );
        assert_eq!(event_count(&bot), events + 1);
        // Concurrent redeliveries inside one batch run once too.
        let open = message("m2", "!tree open autoland");
        let (a, b) = tokio::join!(bot.router.dispatch(&open), bot.router.dispatch(&open));
        assert_eq!(a.is_some() as u8 + b.is_some() as u8, 1, "{a:?} {b:?}");
        assert_eq!(event_count(&bot), events + 2);
    }
    let bot = bot(dir.path(), "", clock).await;
    let events = event_count(&bot);
    assert_eq!(
        bot.router.dispatch(&close).await,
        None,
        "remembered across a restart"
    );
    assert_eq!(event_count(&bot), events);
    let fresh = bot.router.dispatch(&message("m3", "!ping")).await;
    assert_eq!(fresh.as_deref(), Some("pong"));
}

/// Reads carry network message ids too (every IRC, Matrix, Slack and Discord
/// message has one), but they change nothing, so they must not cost a disk
/// write: 100 of them leave the ledger's flush and batch counters where
/// they were. A redelivered read is still answered once while the bot runs.
#[tokio::test]
async fn reads_with_message_ids_write_nothing_and_are_answered_once() {
    use std::sync::atomic::Ordering;

    let dir = tempfile::tempdir().expect("tempdir");
    let clock = Arc::new(ManualClock::new(at("2026-11-22T10:00:00Z")));
    let bot = bot(dir.path(), "", clock).await;
    let stats = bot.ledger.stats();
    let (flushes, batches) = (
        stats.flushes.load(Ordering::SeqCst),
        stats.batches.load(Ordering::SeqCst),
    );
    let reads = ["!ping", "!tree", "!help", "!train"];
    for n in 0..100 {
        let read = message(&format!("read-{n}"), reads[n % reads.len()]);
        let reply = bot.router.dispatch(&read).await.expect("answered");
        assert!(!reply.is_empty());
    }
    assert_eq!(stats.flushes.load(Ordering::SeqCst), flushes, "no flush");
    assert_eq!(stats.batches.load(Ordering::SeqCst), batches, "no write");
    assert_eq!(
        bot.router.dispatch(&message("read-0", "!ping")).await,
        None,
        "a redelivered read is not answered twice"
    );
    // A change still writes (once).
    let close = message("change-1", "!tree close try bustage #infra");
    assert!(bot.router.dispatch(&close).await.is_some());
    assert_eq!(stats.flushes.load(Ordering::SeqCst), flushes + 1);
}

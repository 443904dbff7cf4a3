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

//! Abuse: a flooding person is slowed down without slowing anyone else, and
//! absurd input (a megabyte, ten thousand words, nested quotes) is refused
//! cleanly without a panic or a change.

use std::sync::Arc;

use signalbox::clock::ManualClock;
use signalbox::router::Inbound;
use signalbox_commands::{ChannelAddr, Network, PlatformUserId};

use crate::common::{at, bot, event_count};

fn irc(user: &str, text: &str) -> Inbound {
    Inbound {
        network: Network::Irc,
        channel: Some(ChannelAddr::new(Network::Irc, "#releng")),
        user: PlatformUserId::new(user),
        text: text.to_string(),
        id: None,
        aliases: Vec::new(),
    }
}

#[tokio::test]
async fn a_flood_is_slowed_down_and_others_are_served() {
    let dir = tempfile::tempdir().expect("tempdir");
    let clock = Arc::new(ManualClock::new(at("2026-11-22T10:00:00Z")));
    let bot = bot(dir.path(), "", clock).await;
    let mut replies = Vec::new();
    for _ in 0..40 {
        replies.push(bot.router.dispatch(&irc("mallory", "!ping")).await);
    }
    let pongs = replies
        .iter()
        .filter(|r| r.as_deref() == Some("pong"))
        .count();
    let told: Vec<&String> = replies
        .iter()
        .flatten()
        .filter(|r| r.starts_with("slow down"))
        .collect();
    let silent = replies.iter().filter(|r| r.is_none()).count();
    assert_eq!(pongs, 20, "the configured burst");
    assert_eq!(told.len(), 1, "told once: {told:?}");
    assert!(
        told[0].contains("too many commands from \"mallory\""),
        "{}",
        told[0]
    );
    assert_eq!(silent, 19, "then ignored");
    assert_eq!(
        bot.router.dispatch(&irc("alice", "!ping")).await.as_deref(),
        Some("pong"),
        "others are served"
    );
}

#[tokio::test]
async fn absurd_input_is_refused_without_panic_or_change() {
    let dir = tempfile::tempdir().expect("tempdir");
    let clock = Arc::new(ManualClock::new(at("2026-11-22T10:00:00Z")));
    let bot = bot(dir.path(), "", clock).await;
    let events = event_count(&bot);
    let megabyte = format!("!tree close autoland {} #infra", "x".repeat(1 << 20));
    let words = format!("!tree close autoland {}#infra", "w ".repeat(10_000));
    // One quote opened, then 500 escaped quotes inside it, never closed.
    let nested = format!("!tree motd try \"{}", "\\\"".repeat(500));
    let quotes = format!("!tree motd try {}", "\"".repeat(10_001));
    for (text, want) in [
        (megabyte.as_str(), "message too long"),
        (words.as_str(), "message too long"),
        (nested.as_str(), "unterminated quote"),
        (quotes.as_str(), "message too long"),
    ] {
        let reply = bot
            .router
            .dispatch(&irc("alice", text))
            .await
            .expect("answered");
        assert!(reply.contains(want), "{}: {reply}", &text[..40]);
        assert!(
            reply.len() < 300,
            "the reply does not echo the flood: {} bytes",
            reply.len()
        );
    }
    let many_short = format!("!tree close autoland {}#infra", "w ".repeat(300));
    let reply = bot
        .router
        .dispatch(&irc("alice", &many_short))
        .await
        .expect("answered");
    assert!(reply.contains("too many words"), "{reply}");
    assert_eq!(event_count(&bot), events);
}

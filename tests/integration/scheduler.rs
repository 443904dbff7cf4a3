//! Recurring jobs: a configured reminder fires at its cron time in its time
//! zone, once; one missed while the bot was down fires once at start-up.

use std::sync::Arc;

use chrono::Duration;
use signalbox::clock::ManualClock;

use crate::common::{at, bot};

const REMINDER: &str = r#"
[[reminders]]
name = "standup"
cron = "0 0 9 * * Mon-Fri"
timezone = "Europe/Berlin"
channels = ["console:#standup"]
text = "standup in the video room"
"#;

fn reminders(bot: &signalbox::Bot) -> usize {
    bot.ledger
        .export()
        .expect("export")
        .outbox
        .iter()
        .filter(|e| e.text == "standup in the video room")
        .count()
}

#[tokio::test]
async fn reminder_fires_at_its_time_once_and_catches_up_once_after_downtime() {
    let dir = tempfile::tempdir().expect("tempdir");
    // Monday 2026-11-23, 07:00 in Berlin.
    let clock = Arc::new(ManualClock::new(at("2026-11-23T06:00:00Z")));
    {
        let bot = bot(dir.path(), REMINDER, clock.clone()).await;
        bot.scheduler().tick().await; // arms the job
        clock.set(at("2026-11-23T07:59:59Z"));
        bot.scheduler().tick().await;
        assert_eq!(reminders(&bot), 0, "not before 09:00 Berlin");
        clock.set(at("2026-11-23T08:00:00Z"));
        bot.scheduler().tick().await;
        assert_eq!(reminders(&bot), 1);
        bot.scheduler().tick().await;
        assert_eq!(reminders(&bot), 1, "not twice");
    }
    // Down from Monday until Thursday noon: Tue, Wed, Thu were missed.
    clock.set(at("2026-11-26T11:00:00Z"));
    for _ in 0..2 {
        let bot = bot(dir.path(), REMINDER, clock.clone()).await;
        bot.scheduler().tick().await;
        assert_eq!(
            reminders(&bot),
            2,
            "the missed ones collapse into one, and a restart adds none"
        );
    }
    // The loop itself wakes at the next firing.
    let bot = bot(dir.path(), REMINDER, clock.clone()).await;
    let shutdown = tokio_util::sync::CancellationToken::new();
    let task = tokio::spawn(bot.scheduler().run(shutdown.clone()));
    clock.advance(Duration::hours(21)); // Friday 09:00 Berlin
    crate::common::eventually("friday's reminder", || reminders(&bot) == 3).await;
    shutdown.cancel();
    task.await.expect("scheduler stops");
}

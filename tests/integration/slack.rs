//! The Slack adapter against the in-repo fake Slack: Socket Mode envelopes
//! in, Web API calls and `response_url` posts out; HTTP mode with signed
//! requests; the checked-in app manifest against the definitions.

use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::Arc;
use std::time::Duration;

use serde_json::json;
use signalbox::Bot;
use signalbox::adapter::slack::{Config as SlackConfig, Mode, PlainSlack};
use signalbox::adapter::{Adapter, SendError, supervise};
use signalbox::clock::{Clock, ManualClock};
use signalbox::config::Config;
use signalbox::http::slack::{Endpoint, Verifier};
use signalbox::outbox::Destination;
use signalbox_commands::{ChannelAddr, Network, PlatformUserId};
use tokio_util::sync::CancellationToken;

use crate::common::{
    BotProcess, at, bin, config_text, crash_after_the_first_send, eventually,
    queue_through_console, queue_two_announcements, within,
};
use crate::fake_slack::{FakeSlack, GONE, GONE_USER, escaped};

const ALICE: &str = "U0ALICE01"; // admin and sheriff in the example config
const STRANGER: &str = "U0STRANGER";
/// The `/tree` text most tests start with.
const CLOSE_AUTOLAND: &str = "close autoland bustage #infra";
const SECRET: &str = "test-signing-secret";
/// How long a started binary may take to connect and deliver.
const WITHIN: Duration = Duration::from_secs(30);

/// A bot whose tree announcements also go to the Slack `channels`.
async fn slack_bot(dir: &std::path::Path, channels: &[&str]) -> Bot {
    let clock = Arc::new(ManualClock::new(at("2026-11-22T10:00:00Z")));
    slack_bot_with(dir, channels, "", clock).await
}

/// [`slack_bot`] with `extra` config (and window announcements in the
/// first channel too) on `clock`.
async fn slack_bot_with(
    dir: &std::path::Path,
    channels: &[&str],
    extra: &str,
    clock: Arc<ManualClock>,
) -> Bot {
    let list: Vec<String> = std::iter::once("console:#ops".to_string())
        .chain(channels.iter().map(|c| format!("slack:{c}")))
        .map(|c| format!("\"{c}\""))
        .collect();
    let mut text = config_text(dir, extra).replace(
        "trees = [\"console:#ops\"]",
        &format!("trees = [{}]", list.join(", ")),
    );
    if !extra.is_empty() {
        text = text.replace(
            "windows = [\"console:#ops\"]",
            &format!("windows = [{}]", list.join(", ")),
        );
    }
    let config = Config::from_text(&text, "test.toml", &HashMap::new(), None).expect("config");
    Bot::open(config, clock as Arc<dyn Clock>)
        .await
        .expect("bot opens")
}

fn adapter(bot: &Bot, fake: &FakeSlack, mode: Mode) -> Arc<PlainSlack> {
    let mut config = SlackConfig::new(mode, "xoxb-test", "xapp-test", SECRET);
    config.api_url = fake.api_url();
    Arc::new(PlainSlack::plain(&config, bot.router.clone(), bot.health.clone()).expect("adapter"))
}

/// The bot in Socket Mode against the fake, connected.
struct Running {
    bot: Bot,
    fake: FakeSlack,
    adapter: Arc<PlainSlack>,
    shutdown: CancellationToken,
    _dir: tempfile::TempDir,
}

impl Running {
    /// Tree announcements go to `slack:C0RELENG`.
    async fn start() -> Running {
        Running::announcing(&["C0RELENG"]).await
    }

    async fn announcing(channels: &[&str]) -> Running {
        let clock = Arc::new(ManualClock::new(at("2026-11-22T10:00:00Z")));
        Running::with(channels, "", clock).await
    }

    async fn with(channels: &[&str], extra: &str, clock: Arc<ManualClock>) -> Running {
        let dir = tempfile::tempdir().expect("tempdir");
        let bot = slack_bot_with(dir.path(), channels, extra, clock).await;
        let fake = FakeSlack::start().await;
        let adapter = adapter(&bot, &fake, Mode::Socket);
        let shutdown = CancellationToken::new();
        bot.deliver(adapter.clone(), &shutdown);
        tokio::spawn(supervise(
            adapter.clone(),
            bot.router.clone(),
            bot.health.clone(),
            shutdown.clone(),
        ));
        eventually("a socket mode connection", || fake.connections() == 1).await;
        Running {
            bot,
            fake,
            adapter,
            shutdown,
            _dir: dir,
        }
    }

    fn tree_status(&self, tree: &str) -> String {
        let state = self.bot.ledger.state();
        let tree = state.trees.get(tree).expect("tree exists");
        tree.condition.status.as_str().to_string()
    }

    fn closes_of(&self, tree: &str) -> usize {
        self.bot
            .ledger
            .events()
            .expect("events")
            .iter()
            .filter(|e| format!("{:?}", e.changes).contains(&format!("\"{tree}\"")))
            .count()
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

#[tokio::test]
async fn slash_command_from_a_mapped_user_closes_a_tree_and_answers_via_response_url() {
    let run = Running::start().await;
    let fake = &run.fake;
    fake.slash("env-1", "/tree", CLOSE_AUTOLAND, ALICE, "C0OPS");
    eventually("the reply through response_url", || {
        !fake.hook("env-1").is_empty()
    })
    .await;
    let reply = &fake.hook("env-1")[0];
    assert_eq!(reply["response_type"], "in_channel", "{reply}");
    let text = reply["text"].as_str().expect("text");
    assert!(text.contains("autoland"), "{text}");
    assert_eq!(run.tree_status("autoland"), "closed");
    eventually("the envelope acknowledged", || {
        fake.acks() == ["env-1".to_string()]
    })
    .await;
    // The announcement reaches the configured Slack channel via the outbox.
    eventually("the announcement in C0RELENG", || {
        fake.calls("chat.postMessage")
            .iter()
            .any(|c| c.body["channel"] == "C0RELENG" && c.status == 200)
    })
    .await;

    // The catch-all command takes any command; a bare family shows status.
    fake.slash("env-2", "/signalbox", "whoami", ALICE, "C0OPS");
    fake.slash("env-3", "/tree", "", ALICE, "C0OPS");
    eventually("both replies", || {
        !fake.hook("env-2").is_empty() && !fake.hook("env-3").is_empty()
    })
    .await;
    let whoami = fake.hook("env-2")[0]["text"].to_string();
    assert!(
        whoami.contains("alice") && whoami.contains(ALICE),
        "{whoami}"
    );
    let status = fake.hook("env-3")[0]["text"].to_string();
    assert!(
        status.contains("autoland") && status.contains("closed"),
        "{status}"
    );
    let health = run.bot.health.snapshot();
    assert_eq!(health[&Network::Slack].state, "connected");
}

#[tokio::test]
async fn unmapped_user_and_usage_errors_are_answered_ephemerally() {
    let run = Running::start().await;
    let fake = &run.fake;
    let before = run.closes_of("autoland");
    fake.slash(
        "env-1",
        "/tree",
        "close autoland sneaky #infra",
        STRANGER,
        "C0OPS",
    );
    fake.slash("env-2", "/tree", "close", ALICE, "C0OPS");
    fake.slash("env-3", "/status", "all good", ALICE, "C0OPS");
    eventually("three replies", || {
        ["env-1", "env-2", "env-3"]
            .iter()
            .all(|id| !fake.hook(id).is_empty())
    })
    .await;
    let refusal = &fake.hook("env-1")[0];
    assert_eq!(refusal["response_type"], "ephemeral", "{refusal}");
    let text = refusal["text"].as_str().expect("text");
    assert!(text.contains("needs") && text.contains(STRANGER), "{text}");
    let usage = &fake.hook("env-2")[0];
    assert_eq!(usage["response_type"], "ephemeral");
    assert!(usage["text"].to_string().contains("usage"), "{usage}");
    let unknown = &fake.hook("env-3")[0];
    assert_eq!(unknown["response_type"], "ephemeral");
    assert!(
        unknown["text"]
            .to_string()
            .contains("\\\"/status\\\" is not one of mine"),
        "{unknown}"
    );
    assert_eq!(run.tree_status("autoland"), "open");
    assert_eq!(run.closes_of("autoland"), before, "nothing ran");
    eventually("every envelope acknowledged", || fake.acks().len() == 3).await;
}

#[tokio::test]
async fn mention_runs_once_and_answers_in_its_thread_and_dms_need_no_prefix() {
    let run = Running::start().await;
    let fake = &run.fake;
    let text = "<@U0BOT> tree close try flaky tests #checkin-test";
    let event = |kind: &str| {
        json!({
            "type": kind,
            "user": ALICE,
            "text": text,
            "channel": "C0OPS",
            "channel_type": "channel",
            "ts": "1700000100.000200",
            "thread_ts": "1700000000.000100",
            "event_ts": "1700000100.000200",
        })
    };
    // Slack delivers a mention twice: as a message and as an app_mention.
    fake.event("env-1", "Ev01", event("message"));
    fake.event("env-2", "Ev02", event("app_mention"));
    eventually("the threaded reply", || {
        fake.calls("chat.postMessage")
            .iter()
            .any(|c| c.body["channel"] == "C0OPS")
    })
    .await;
    let replies: Vec<_> = fake
        .calls("chat.postMessage")
        .into_iter()
        .filter(|c| c.body["channel"] == "C0OPS")
        .collect();
    assert_eq!(replies.len(), 1, "{replies:?}");
    assert_eq!(replies[0].body["thread_ts"], "1700000000.000100");
    assert!(replies[0].body["text"].to_string().contains("try"));
    assert_eq!(run.tree_status("try"), "closed");

    // A refusal in a channel is ephemeral, to the caller only.
    fake.event(
        "env-3",
        "Ev03",
        json!({
            "type": "app_mention", "user": STRANGER, "text": "<@U0BOT> tree open try",
            "channel": "C0OPS", "channel_type": "channel", "ts": "1700000200.000300",
        }),
    );
    // In a DM, no prefix is needed.
    fake.event(
        "env-4",
        "Ev04",
        json!({
            "type": "message", "user": ALICE, "text": "ping",
            "channel": "D0ALICE", "channel_type": "im", "ts": "1700000300.000400",
        }),
    );
    eventually("the ephemeral refusal and the dm reply", || {
        !fake.calls("chat.postEphemeral").is_empty()
            && fake
                .calls("chat.postMessage")
                .iter()
                .any(|c| c.body["channel"] == "D0ALICE")
    })
    .await;
    let ephemeral = &fake.calls("chat.postEphemeral")[0];
    assert_eq!(ephemeral.body["user"], STRANGER);
    assert_eq!(ephemeral.body["channel"], "C0OPS");
    let dm = fake
        .calls("chat.postMessage")
        .into_iter()
        .find(|c| c.body["channel"] == "D0ALICE")
        .expect("dm reply");
    assert_eq!(dm.body["text"], "pong");
    assert_eq!(run.tree_status("try"), "closed");
    eventually("every envelope acknowledged", || fake.acks().len() == 4).await;
    // The bot's own messages (bot_id) are never commands.
    let calls_before = fake.calls("chat.postMessage").len();
    fake.event(
        "env-5",
        "Ev05",
        json!({
            "type": "message", "user": "U0BOT", "bot_id": "B0BOT", "text": "!tree open try",
            "channel": "C0OPS", "channel_type": "channel", "ts": "1700000400.000500",
        }),
    );
    eventually("the bot's message acknowledged", || fake.acks().len() == 5).await;
    assert_eq!(fake.calls("chat.postMessage").len(), calls_before);
    assert_eq!(run.tree_status("try"), "closed");
}

#[tokio::test]
async fn disconnect_reconnects_with_no_command_lost_or_doubled() {
    let run = Running::start().await;
    let fake = &run.fake;
    fake.slash(
        "env-1",
        "/tree",
        "close autoland one #infra",
        ALICE,
        "C0OPS",
    );
    fake.disconnect();
    eventually("a second connection", || fake.connections() == 2).await;
    // Slack sends an envelope again when it did not see its ack.
    fake.slash(
        "env-1",
        "/tree",
        "close autoland one #infra",
        ALICE,
        "C0OPS",
    );
    fake.slash("env-2", "/tree", "close try two #infra", ALICE, "C0OPS");
    eventually("both commands answered and acknowledged", || {
        !fake.hook("env-2").is_empty()
            && fake.acks().iter().filter(|a| *a == "env-1").count() >= 1
            && fake.acks().contains(&"env-2".to_string())
    })
    .await;
    assert_eq!(run.tree_status("autoland"), "closed");
    assert_eq!(run.tree_status("try"), "closed");
    assert_eq!(run.closes_of("autoland"), 2, "added once, closed once");
    assert_eq!(
        fake.hook("env-1").len(),
        1,
        "the redelivered command answers once"
    );
    assert_eq!(fake.hook("env-2").len(), 1);
    assert_eq!(
        run.bot.health.snapshot()[&Network::Slack].state,
        "connected"
    );
}

#[tokio::test]
async fn rate_limited_announcement_is_delayed_not_dropped() {
    let run = Running::start().await;
    let fake = &run.fake;
    fake.rate_limit_next(1);
    fake.slash("env-1", "/tree", CLOSE_AUTOLAND, ALICE, "C0OPS");
    eventually("the announcement after the retry", || {
        fake.calls("chat.postMessage")
            .iter()
            .any(|c| c.body["channel"] == "C0RELENG" && c.status == 200)
    })
    .await;
    let attempts: Vec<_> = fake
        .calls("chat.postMessage")
        .into_iter()
        .filter(|c| c.body["channel"] == "C0RELENG")
        .collect();
    assert_eq!(attempts.len(), 2, "one 429, one success: {attempts:?}");
    assert_eq!(attempts[0].status, 429);
    assert_eq!(attempts[1].status, 200);
    assert_eq!(attempts[0].body["text"], attempts[1].body["text"]);
    let waited = attempts[1].at - attempts[0].at;
    assert!(
        waited >= Duration::from_secs(1),
        "Retry-After honoured: {waited:?}"
    );
    assert!(
        signalbox::outbox::drained(&run.bot.ledger, Network::Slack, Duration::from_secs(5)).await,
        "nothing left undelivered"
    );
    // Still exactly one delivery after the outbox has settled.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let ok = fake
        .calls("chat.postMessage")
        .into_iter()
        .filter(|c| c.body["channel"] == "C0RELENG" && c.status == 200)
        .count();
    assert_eq!(ok, 1);
}

#[tokio::test]
async fn an_announcement_to_a_deleted_channel_is_dropped_and_holds_up_nothing() {
    // Announcements go to a channel Slack no longer knows, then to a good one.
    let run = Running::announcing(&[GONE, "C0RELENG"]).await;
    let fake = &run.fake;
    let posts_to = |channel: &str| -> Vec<u16> {
        fake.calls("chat.postMessage")
            .into_iter()
            .filter(|c| c.body["channel"] == channel)
            .map(|c| c.status)
            .collect()
    };
    fake.slash("env-1", "/tree", CLOSE_AUTOLAND, ALICE, "C0OPS");
    eventually("the first announcement in the good channel", || {
        posts_to("C0RELENG").len() == 1
    })
    .await;
    fake.slash("env-2", "/tree", "open autoland", ALICE, "C0OPS");
    eventually("the second announcement in the good channel", || {
        posts_to("C0RELENG").len() == 2
    })
    .await;
    assert!(
        signalbox::outbox::drained(&run.bot.ledger, Network::Slack, Duration::from_secs(5)).await,
        "the rejected announcements left the outbox"
    );
    // Given time to retry, nothing is: one attempt per announcement.
    tokio::time::sleep(Duration::from_millis(1200)).await;
    assert_eq!(
        posts_to(GONE).len(),
        2,
        "{:?}",
        fake.calls("chat.postMessage")
    );
    assert_eq!(posts_to("C0RELENG"), [200, 200]);
}

/// What Slack refuses for good comes back from `send` as `Rejected`, the
/// outcome every adapter gives it: a topic for a channel Slack does not
/// know, and a DM to a user it does not know.
#[tokio::test]
async fn a_refused_topic_and_an_undeliverable_dm_are_rejected() {
    let run = Running::start().await;
    let topic = Destination::Topic(ChannelAddr::new(Network::Slack, GONE));
    match run.adapter.send(&topic, "autoland closed").await {
        Err(SendError::Rejected(why)) => assert!(why.contains("channel_not_found"), "{why}"),
        other => panic!("a refused topic is Rejected, got {other:?}"),
    }
    let dm = Destination::Direct {
        network: Network::Slack,
        user: PlatformUserId::new(GONE_USER),
    };
    match run.adapter.send(&dm, "your loaner is ready").await {
        Err(SendError::Rejected(why)) => assert!(why.contains("user_not_found"), "{why}"),
        other => panic!("an undeliverable DM is Rejected, got {other:?}"),
    }
}

#[tokio::test]
async fn direct_messages_open_a_conversation_and_topics_are_set() {
    let run = Running::start().await;
    let fake = &run.fake;
    let to = Destination::Direct {
        network: Network::Slack,
        user: PlatformUserId::new(ALICE),
    };
    run.adapter
        .send(&to, "your loaner is ready")
        .await
        .expect("dm");
    run.adapter
        .send(&to, "it expires tomorrow")
        .await
        .expect("dm");
    let opened = fake.calls("conversations.open");
    assert_eq!(opened.len(), 1, "the dm channel is remembered");
    assert!(opened[0].body["users"].to_string().contains(ALICE));
    let dms: Vec<_> = fake
        .calls("chat.postMessage")
        .into_iter()
        .filter(|c| c.body["channel"] == format!("D{ALICE}"))
        .collect();
    assert_eq!(dms.len(), 2);
    assert_eq!(dms[0].token, "xoxb-test");
    run.adapter
        .set_topic(
            &ChannelAddr::new(Network::Slack, "C0RELENG"),
            "trees: autoland closed",
        )
        .await
        .expect("topic");
    let topics = fake.calls("conversations.setTopic");
    assert_eq!(topics[0].body["channel"], "C0RELENG");
    assert_eq!(topics[0].body["topic"], "trees: autoland closed");
}

/// One HTTP/1.1 POST with headers; returns status and body.
fn post(addr: SocketAddr, path: &str, headers: &[(&str, String)], body: &str) -> (u16, String) {
    let mut stream = TcpStream::connect_timeout(&addr, Duration::from_secs(5)).expect("connect");
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    let mut head = format!(
        "POST {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nContent-Length: {}\r\n",
        body.len()
    );
    for (name, value) in headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    write!(stream, "{head}\r\n{body}").expect("write");
    let mut raw = String::new();
    stream.read_to_string(&mut raw).expect("read");
    let status = raw
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .expect("status");
    let body = raw
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default();
    (status, body)
}

fn signed(ts: i64, body: &str, secret: &str) -> Vec<(&'static str, String)> {
    let ts = ts.to_string();
    let signature = Verifier::new(secret).sign(&ts, body.as_bytes());
    vec![
        ("Content-Type", "application/x-www-form-urlencoded".into()),
        ("X-Slack-Request-Timestamp", ts),
        ("X-Slack-Signature", signature),
    ]
}

#[tokio::test]
async fn http_mode_runs_signed_requests_and_refuses_forged_stale_and_replayed_ones() {
    let dir = tempfile::tempdir().expect("tempdir");
    let bot = slack_bot(dir.path(), &["C0RELENG"]).await;
    let fake = FakeSlack::start().await;
    let adapter = adapter(&bot, &fake, Mode::Http);
    let mut state = bot.http_state();
    state.slack = Some(Arc::new(Endpoint::new(SECRET, adapter.inbox())));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let shutdown = CancellationToken::new();
    let server = tokio::spawn(signalbox::http::serve(listener, state, shutdown.clone()));
    let events = || bot.ledger.events().expect("events").len();
    let before = events();

    let form = |text: &str, hook: &str| {
        serde_urlencoded::to_string([
            ("token", "legacy"),
            ("team_id", "T0TEAM"),
            ("channel_id", "C0OPS"),
            ("user_id", ALICE),
            ("command", "/tree"),
            ("text", text),
            ("response_url", &fake.hook_url(hook)),
            ("trigger_id", &format!("trigger.{hook}")),
        ])
        .expect("form")
    };
    let now = chrono::Utc::now().timestamp();
    let request = |path: &'static str, headers: Vec<(&'static str, String)>, body: String| {
        tokio::task::spawn_blocking(move || post(addr, path, &headers, &body))
    };

    // A bad signature, a stale timestamp: 401, nothing runs.
    let forged = form("close autoland forged #infra", "h-forged");
    let (code, body) = request(
        "/slack/commands",
        signed(now, &forged, "not-the-secret"),
        forged.clone(),
    )
    .await
    .expect("join");
    assert_eq!(code, 401, "{body}");
    assert!(body.contains("signature"), "{body}");
    let stale = form("close autoland stale #infra", "h-stale");
    let (code, body) = request(
        "/slack/commands",
        signed(now - 6 * 60, &stale, SECRET),
        stale.clone(),
    )
    .await
    .expect("join");
    assert_eq!(code, 401, "{body}");
    assert!(body.contains("5 minutes"), "{body}");
    let (code, _) = request("/slack/commands", Vec::new(), stale.clone())
        .await
        .expect("join");
    assert_eq!(code, 401, "unsigned");
    assert_eq!(events(), before, "nothing ran");

    // A good one runs, is acknowledged with an empty 200 and answered
    // through its response_url.
    let good = form(CLOSE_AUTOLAND, "h-good");
    let headers = signed(now, &good, SECRET);
    let (code, body) = request("/slack/commands", headers.clone(), good.clone())
        .await
        .expect("join");
    assert_eq!(code, 200, "{body}");
    assert!(body.is_empty(), "{body}");
    eventually("the reply", || !fake.hook("h-good").is_empty()).await;
    assert_eq!(fake.hook("h-good")[0]["response_type"], "in_channel");
    let after = events();
    assert_eq!(after, before + 1);

    // The same signed request again: refused as a replay.
    let (code, body) = request("/slack/commands", headers, good)
        .await
        .expect("join");
    assert_eq!(code, 401, "{body}");
    assert!(body.contains("already received"), "{body}");
    assert_eq!(events(), after);
    assert_eq!(fake.hook("h-good").len(), 1);

    // Events: the URL check, then a mention.
    let challenge =
        json!({"type": "url_verification", "challenge": "c-123", "token": "legacy"}).to_string();
    let mut headers = signed(now, &challenge, SECRET);
    headers[0].1 = "application/json".into();
    let (code, body) = request("/slack/events", headers, challenge)
        .await
        .expect("join");
    assert_eq!(code, 200);
    assert!(body.contains("c-123"), "{body}");
    let mention = json!({
        "type": "event_callback", "event_id": "Ev100", "team_id": "T0TEAM",
        "event": {"type": "app_mention", "user": ALICE, "text": "<@U0BOT> tree open autoland",
                  "channel": "C0OPS", "ts": "1700000500.000100"},
    })
    .to_string();
    let mut headers = signed(now, &mention, SECRET);
    headers[0].1 = "application/json".into();
    let (code, _) = request("/slack/events", headers, mention)
        .await
        .expect("join");
    assert_eq!(code, 200);
    eventually("the tree reopened", || {
        bot.ledger
            .state()
            .trees
            .get("autoland")
            .is_some_and(|t| t.condition.status.as_str() == "open")
    })
    .await;
    let interaction = "payload=%7B%22type%22%3A%22block_actions%22%7D".to_string();
    let (code, _) = request(
        "/slack/interactions",
        signed(now, &interaction, SECRET),
        interaction,
    )
    .await
    .expect("join");
    assert_eq!(code, 200);

    shutdown.cancel();
    server.await.expect("join").expect("server stops");
}

#[tokio::test]
async fn checked_in_manifest_matches_the_definitions() {
    let output = std::process::Command::new(bin())
        .args(["manifest", "slack"])
        .output()
        .expect("run manifest");
    assert!(output.status.success(), "{output:?}");
    let generated = String::from_utf8(output.stdout).expect("utf-8");
    let checked_in = include_str!("../../manifests/slack.json");
    assert_eq!(
        generated.trim_end(),
        checked_in.trim_end(),
        "manifests/slack.json is out of date; regenerate it with: cargo run -- manifest slack > manifests/slack.json"
    );
    let manifest: serde_json::Value = serde_json::from_str(checked_in).expect("json");
    assert_eq!(manifest["settings"]["socket_mode_enabled"], true);
    let commands: Vec<String> = manifest["features"]["slash_commands"]
        .as_array()
        .expect("commands")
        .iter()
        .map(|c| c["command"].as_str().expect("name").to_string())
        .collect();
    for family in signalbox_commands::manifest::slash_families() {
        assert!(
            commands
                .iter()
                .any(|c| c.trim_start_matches('/').ends_with(&family.0)),
            "no slash command for {}: {commands:?}",
            family.0
        );
    }
    assert!(!commands.contains(&"/status".to_string()) && !commands.contains(&"/who".to_string()));

    // With a config in HTTP mode, the request URLs point at the bot.
    let dir = tempfile::tempdir().expect("tempdir");
    let path = crate::common::write_config(
        dir.path(),
        "\n[adapters.slack]\nmode = \"http\"\nbot_token = \"xoxb-1\"\nsigning_secret = \"s\"\n[adapters.slack.commands]\ntree = \"/trees\"\n",
    );
    let text = std::fs::read_to_string(&path).expect("config").replace(
        "# public_url = \"https://signalbox.example.org\"",
        "public_url = \"https://bot.example.org\"",
    );
    std::fs::write(&path, text).expect("write");
    let output = std::process::Command::new(bin())
        .args(["manifest", "slack", "--config"])
        .arg(&path)
        .output()
        .expect("run manifest");
    assert!(output.status.success(), "{output:?}");
    let manifest: serde_json::Value = serde_json::from_slice(&output.stdout).expect("json");
    assert_eq!(manifest["settings"]["socket_mode_enabled"], false);
    assert_eq!(
        manifest["settings"]["event_subscriptions"]["request_url"],
        "https://bot.example.org/slack/events"
    );
    assert_eq!(
        manifest["features"]["slash_commands"][0]["command"],
        "/trees"
    );
}

#[tokio::test]
async fn config_needs_the_tokens_of_its_mode() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = crate::common::write_config(
        dir.path(),
        "\n[adapters.slack]\nbot_token = \"xoxb-1\"\n[adapters.slack.commands]\ntree = \"/who\"\n",
    );
    let output = std::process::Command::new(bin())
        .arg("check-config")
        .arg(&path)
        .output()
        .expect("run check-config");
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("adapters.slack.app_token"), "{stderr}");
    assert!(stderr.contains("\"/who\" is built into Slack"), "{stderr}");
    // Secrets from files and the environment; never printed.
    std::fs::write(dir.path().join("app-token"), "xapp-from-file\n").expect("write");
    let text = config_text(
        dir.path(),
        "\n[adapters.slack]\napp_token_file = \"app-token\"\n",
    );
    let env = HashMap::from([(
        "SIGNALBOX__ADAPTERS__SLACK__BOT_TOKEN".to_string(),
        "xoxb-from-env".to_string(),
    )]);
    let config = Config::from_text(&text, "t", &env, Some(dir.path())).expect("config");
    let slack = config.adapters.slack.as_ref().expect("slack");
    assert_eq!(
        slack.app_token.as_ref().expect("app").expose(),
        "xapp-from-file"
    );
    assert_eq!(
        slack.bot_token.as_ref().expect("bot").expose(),
        "xoxb-from-env"
    );
    assert!(!format!("{config:?}").contains("from-"));
}

/// carol is on Slack; bob is not; security is carol's.
const MENTIONS_EXTRA: &str = r#"
[people.carol]
slack = "U0CAROL01"
[liaisons]
security = ["carol"]
"#;

/// The `<@U…>` mentions in a Slack text, in order.
fn slack_mentions(text: &str) -> Vec<String> {
    text.split("<@")
        .skip(1)
        .filter_map(|rest| rest.split_once('>').map(|(id, _)| id.to_string()))
        .collect()
}

/// The texts posted to `channel` with `chat.postMessage`.
fn posted(fake: &FakeSlack, channel: &str) -> Vec<String> {
    fake.calls("chat.postMessage")
        .iter()
        .filter(|c| c.body["channel"] == channel && c.status == 200)
        .filter_map(|c| c.body["text"].as_str().map(str::to_string))
        .collect()
}

#[tokio::test]
async fn people_are_pinged_as_user_ids_and_named_by_mentions() {
    let clock = Arc::new(ManualClock::new(at("2026-11-22T10:00:00Z")));
    let run = Running::with(&["C0RELENG"], MENTIONS_EXTRA, clock.clone()).await;
    let fake = &run.fake;

    // Mentions in: carol by her Slack id; an unknown id is refused, quoted.
    fake.slash(
        "m-1",
        "/signalbox",
        "role set security <@U0CAROL01>",
        ALICE,
        "C0OPS",
    );
    fake.slash(
        "m-2",
        "/signalbox",
        "role set security <@U0NOBODY>",
        ALICE,
        "C0OPS",
    );
    eventually("both answers", || {
        !fake.hook("m-1").is_empty() && !fake.hook("m-2").is_empty()
    })
    .await;
    assert_eq!(fake.hook("m-1")[0]["text"], "security is covered by carol");
    let refusal = &fake.hook("m-2")[0];
    assert_eq!(refusal["response_type"], "ephemeral");
    assert!(
        // Quoted as typed: escaped, so Slack shows it and pings nobody.
        refusal["text"]
            .as_str()
            .is_some_and(|t| t.contains("mention \"&lt;@U0NOBODY&gt;\"")),
        "{refusal}"
    );

    // Escalation: the channel message pings carol, and only her.
    fake.slash(
        "m-3",
        "/signalbox",
        "escalate security disk full",
        ALICE,
        "C0OPS",
    );
    eventually("the escalation in C0OPS", || {
        !posted(fake, "C0OPS").is_empty()
    })
    .await;
    let call = &posted(fake, "C0OPS")[0];
    assert!(
        call.starts_with("<@U0CAROL01>: escalation #1 (security)"),
        "{call}"
    );
    assert_eq!(slack_mentions(call), ["U0CAROL01"]);
    eventually("the reply", || !fake.hook("m-3").is_empty()).await;
    let reply = fake.hook("m-3")[0]["text"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    assert!(
        slack_mentions(&reply).is_empty(),
        "the reply describes: {reply}"
    );

    // A window start pings its deployers, then the owners of its patches.
    fake.slash(
        "m-4",
        "/signalbox",
        "window add hotfix 10:30 1h <@U0CAROL01> bob",
        ALICE,
        "C0OPS",
    );
    fake.slash(
        "m-5",
        "/signalbox",
        "window join hotfix 1234",
        ALICE,
        "C0OPS",
    );
    eventually("both answers", || {
        !fake.hook("m-4").is_empty() && !fake.hook("m-5").is_empty()
    })
    .await;
    assert_eq!(
        fake.hook("m-5")[0]["response_type"],
        "in_channel",
        "{:?}",
        fake.hook("m-5")
    );
    clock.advance(chrono::Duration::minutes(31));
    run.bot.scheduler().tick().await;
    // The window's start and the owners' ping (the "added window"
    // announcement may be posted to the same channel before them).
    eventually("the window start in C0RELENG", || {
        posted(fake, "C0RELENG")
            .iter()
            .filter(|t| t.contains("hotfix") && !t.contains("added window"))
            .count()
            >= 2
    })
    .await;
    let start: Vec<String> = posted(fake, "C0RELENG")
        .into_iter()
        .filter(|t| t.contains("hotfix") && !t.contains("added window"))
        .collect();
    assert!(
        start[0].starts_with("deploy window hotfix starts now"),
        "{start:?}"
    );
    assert!(
        start[0].ends_with("deployers: <@U0CAROL01>, bob"),
        "bob has no Slack id: {start:?}"
    );
    assert_eq!(slack_mentions(&start[0]), ["U0CAROL01"]);
    assert!(
        start[1].starts_with("<@U0ALICE01>: your patches are up in hotfix"),
        "{start:?}"
    );
    assert_eq!(slack_mentions(&start[1]), [ALICE]);
}

#[tokio::test]
async fn slack_text_is_read_as_typed_and_shown_as_typed() {
    let run = Running::start().await;
    let fake = &run.fake;
    // What Slack sends for `close autoland fix A&B <now> #infra` when
    // #infra is a channel: escaped, with the channel as a link.
    let sent = format!("{} <#C0123|infra>", escaped("close autoland fix A&B <now>"));
    assert_eq!(
        sent,
        "close autoland fix A&amp;B &lt;now&gt; <#C0123|infra>"
    );
    fake.slash("t-1", "/tree", &sent, ALICE, "C0OPS");
    eventually("the reply", || !fake.hook("t-1").is_empty()).await;
    assert_eq!(
        run.tree_status("autoland"),
        "closed",
        "{:?}",
        fake.hook("t-1")
    );
    let state = run.bot.ledger.state();
    let tree = state.trees.get("autoland").expect("tree");
    assert_eq!(tree.condition.reason, "fix A&B <now>");
    assert_eq!(tree.condition.tags, ["infra"]);
    let events = format!("{:?}", run.bot.ledger.events().expect("events"));
    assert!(
        events.contains("fix A&B <now>"),
        "the event holds the reason as typed"
    );
    let (addr, stop) = crate::common::serve(&run.bot).await;
    let trees = http_get(addr, "/trees").await;
    assert_eq!(
        trees["result"]["autoland"]["reason"], "fix A&B <now>",
        "{trees}"
    );
    stop.cancel();
    // Out: escaped, so Slack shows exactly what was typed.
    let reply = fake.hook("t-1")[0]["text"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    assert!(reply.contains("fix A&amp;B &lt;now&gt;"), "{reply}");
    eventually("the announcement", || !posted(fake, "C0RELENG").is_empty()).await;
    let announced = &posted(fake, "C0RELENG")[0];
    assert!(announced.contains("fix A&amp;B &lt;now&gt;"), "{announced}");
    // Echoed text cannot ping: `<!here>` comes back inert.
    fake.slash(
        "t-2",
        "/tree",
        "motd autoland <!here> read this",
        ALICE,
        "C0OPS",
    );
    eventually("the motd reply", || !fake.hook("t-2").is_empty()).await;
    let motd = fake.hook("t-2")[0]["text"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    assert!(
        motd.contains("@here read this") && !motd.contains("<!"),
        "{motd}"
    );
}

/// A GET on the bot's HTTP server; the JSON body.
async fn http_get(addr: SocketAddr, path: &'static str) -> serde_json::Value {
    tokio::task::spawn_blocking(move || {
        let mut stream = TcpStream::connect(addr).expect("connect");
        stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .expect("timeout");
        write!(
            stream,
            "GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
        )
        .expect("write");
        let mut raw = String::new();
        stream.read_to_string(&mut raw).expect("read");
        let body = raw.split("\r\n\r\n").nth(1).unwrap_or_default();
        serde_json::from_str(body).expect("json body")
    })
    .await
    .expect("join")
}

/// The abuse checks the console has (`abuse.rs`), through the Slack adapter
/// as Slack delivers them: a megabyte of text and ten thousand words are
/// refused with a short message; an envelope whose text is an escaped lone
/// surrogate (JSON, but not UTF-8 text) is dropped. Nothing changes, nothing
/// panics, and the same connection serves the next command.
#[tokio::test]
async fn absurd_text_from_slack_is_refused_cleanly_and_the_next_command_runs() {
    let run = Running::start().await;
    let fake = &run.fake;
    let events = run.bot.ledger.events().expect("events").len();
    let megabyte = format!("!tree close autoland {} #infra", "x".repeat(1 << 20));
    let words = format!("!tree close autoland {}#infra", "w ".repeat(10_000));
    for (i, text) in [megabyte, words].iter().enumerate() {
        fake.event(
            &format!("env-abuse-{i}"),
            &format!("EvAbuse{i}"),
            json!({
                "type": "message", "user": ALICE, "text": text,
                "channel": "C0OPS", "channel_type": "channel",
                "ts": format!("1700000500.00000{i}"),
            }),
        );
    }
    let answers = |fake: &FakeSlack| -> Vec<String> {
        ["chat.postMessage", "chat.postEphemeral"]
            .iter()
            .flat_map(|m| fake.calls(m))
            .filter(|c| c.body["channel"] == "C0OPS")
            .map(|c| c.body["text"].as_str().unwrap_or("").to_string())
            .collect()
    };
    eventually("both refusals", || answers(fake).len() == 2).await;
    for answer in answers(fake) {
        assert!(answer.contains("message too long"), "{answer}");
        assert!(answer.len() < 300, "the reply does not echo the flood");
    }
    let bad = r#"{"type":"events_api","envelope_id":"env-surrogate","accepts_response_payload":false,"retry_attempt":0,"retry_reason":"","payload":{"token":"legacy","team_id":"T0TEAM","api_app_id":"A0APP","type":"event_callback","event_id":"EvSurrogate","event_time":1700000000,"event":{"type":"message","user":"U0ALICE01","text":"!tree close autoland \ud800 #infra","channel":"C0OPS","channel_type":"channel","ts":"1700000600.000001"}}}"#;
    fake.push_raw(bad);
    fake.event(
        "env-after",
        "EvAfter",
        json!({
            "type": "message", "user": ALICE, "text": "ping",
            "channel": "D0ALICE", "channel_type": "im", "ts": "1700000700.000001",
        }),
    );
    eventually("the next command answered", || {
        fake.calls("chat.postMessage")
            .iter()
            .any(|c| c.body["channel"] == "D0ALICE" && c.body["text"] == "pong")
    })
    .await;
    assert_eq!(run.bot.ledger.events().expect("events").len(), events);
    assert_eq!(run.tree_status("autoland"), "open");
    assert_eq!(answers(fake).len(), 2, "the surrogate was answered nowhere");
}

/// Exactly once across a crash in the window: `run` posts the first of two
/// queued announcements and is killed (`kill -9`) before the outbox entry
/// is removed. The restarted bot finds the entry marked in flight, looks
/// for its key in the channel's recent messages (`conversations.history`
/// with metadata), finds the post and does not make it again; the second
/// announcement, behind it, is then posted once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crash_between_post_and_removal_posts_nothing_twice() {
    let fake = FakeSlack::start().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let config = dir.path().join("config.toml");
    let text = config_text(
        dir.path(),
        &format!(
            "\n[adapters.slack]\nmode = \"socket\"\nbot_token = \"xoxb-test\"\napp_token = \"xapp-test\"\napi_url = \"{}\"\n",
            fake.api_url()
        ),
    )
    .replace("trees = [\"console:#ops\"]", "trees = [\"slack:C0RELENG\"]");
    std::fs::write(&config, text).expect("write config");
    queue_two_announcements(&config);
    let log = dir.path().join("bot.log");
    let count = |needle: &str| {
        fake.messages("C0RELENG")
            .iter()
            .filter(|m| m["text"].as_str().unwrap_or("").contains(needle))
            .count()
    };

    let _second = crash_after_the_first_send(&config, &log, WITHIN, count).await;
    let all = fake.messages("C0RELENG");
    assert_eq!(
        all[0]["metadata"]["event_type"], "signalbox_outbox",
        "the post carries its outbox key: {all:#?}"
    );
    assert_eq!(count("first-of-two"), 1, "posted once: {all:#?}");
    assert_eq!(all.len(), 2, "{all:#?}");
    let lookups = fake.calls("conversations.history");
    assert_eq!(lookups.len(), 1, "one lookup, for the resend: {lookups:#?}");
    assert_eq!(lookups[0].body["channel"], "C0RELENG");
    assert_eq!(lookups[0].body["include_all_metadata"], "true");
    assert_ne!(
        all[0]["metadata"]["event_payload"]["key"], all[1]["metadata"]["event_payload"]["key"],
        "each entry has its own key"
    );
}

/// SIGTERM drains: `run` keeps delivering what is queued for a connected
/// network, for up to `[bot] drain_seconds` (20 s here), and then exits
/// cleanly. Slack answers each post 2.5 s after taking it here, so the
/// SIGTERM, sent as the first of four announcements arrives, finds three
/// still queued and 7.5 s of posting ahead, past the 5 s the tasks get to
/// stop; without the drain (`drain_seconds = 0`) the last waits for the next
/// start.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_delivers_what_is_queued_before_exiting() {
    let fake = FakeSlack::start().await;
    fake.slow_posts(Duration::from_millis(2500));
    let dir = tempfile::tempdir().expect("tempdir");
    let config = dir.path().join("config.toml");
    let text = config_text(
        dir.path(),
        &format!(
            "\n[adapters.slack]\nmode = \"socket\"\nbot_token = \"xoxb-test\"\napp_token = \"xapp-test\"\napi_url = \"{}\"\n",
            fake.api_url()
        ),
    )
    .replace("trees = [\"console:#ops\"]", "trees = [\"slack:C0RELENG\"]")
    .replace("drain_seconds = 10", "drain_seconds = 20");
    std::fs::write(&config, text).expect("write config");
    let lines = [
        "!tree close autoland one-of-four #infra",
        "!tree close try two-of-four #infra",
        "!tree close mozilla-central three-of-four #infra",
        "!tree open autoland four-of-four",
    ];
    let said = queue_through_console(&config, &lines);
    assert_eq!(said.matches("closed ").count(), 3, "{said}");
    assert!(said.contains("opened autoland"), "{said}");
    let count = |needle: &str| {
        fake.messages("C0RELENG")
            .iter()
            .filter(|m| m["text"].as_str().unwrap_or("").contains(needle))
            .count()
    };
    let bot = BotProcess::start(&config, &dir.path().join("bot.log"), &[]);
    within("the first announcement", WITHIN, || {
        count("one-of-four") == 1
    })
    .await;
    let status = bot.terminate(Duration::from_secs(40)).await;
    assert!(status.success(), "{status:?}");
    for needle in [
        "one-of-four",
        "two-of-four",
        "three-of-four",
        "four-of-four",
    ] {
        assert_eq!(
            count(needle),
            1,
            "{needle}: {:#?}",
            fake.messages("C0RELENG")
        );
    }
}

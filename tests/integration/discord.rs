//! The Discord adapter against the in-repo fake Discord: slash commands over
//! the gateway (deferred, then followed up; refusals ephemeral), prefix,
//! mention and DM commands, announcements, topics, 429s, command
//! registration, a dropped gateway that resumes without losing or doubling
//! anything, and the HTTP interactions endpoint with Ed25519-signed requests.

use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::Arc;
use std::time::Duration;

use ed25519_dalek::{Signer, SigningKey};
use serde_json::{Value, json};
use signalbox::Bot;
use signalbox::clock::{Clock, ManualClock};
use signalbox::config::Config;
use signalbox_commands::tree::Status;
use signalbox_commands::{ChannelAddr, Network, TreeName};
use tokio_util::sync::CancellationToken;

use crate::common::{
    at, bin, config_text, crash_after_the_first_send, event_count, queue_two_announcements,
};
use crate::fake_discord::{
    ALICE, ANNOUNCE, APP, BOT, CHANNEL, DM, FakeDiscord, GONE, GONE_USER, GUILD, Recorded,
    STRANGER, interaction, message,
};

/// How long a started binary may take to connect and deliver.
const WITHIN: Duration = Duration::from_secs(30);

struct Harness {
    fake: FakeDiscord,
    bot: Bot,
    clock: Arc<ManualClock>,
    shutdown: CancellationToken,
    _dir: tempfile::TempDir,
}

impl Drop for Harness {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

/// The shipped example plus `[adapters.discord]` pointed at the fake, with
/// tree announcements also going to the fake's announce channel.
fn discord_config(dir: &std::path::Path, fake: &FakeDiscord, settings: &str) -> Config {
    let extra = format!(
        "\n[adapters.discord]\nbot_token = \"fake-bot-token\"\napplication_id = \"{APP}\"\napi_url = \"{}\"\n{settings}",
        fake.api_url()
    );
    let text = config_text(dir, &extra)
        .replace(
            "trees = [\"console:#ops\"]",
            &format!("trees = [\"console:#ops\", \"discord:{ANNOUNCE}\"]"),
        )
        .replace(
            "windows = [\"console:#ops\"]",
            &format!("windows = [\"discord:{ANNOUNCE}\"]"),
        );
    Config::from_text(&text, "test.toml", &HashMap::new(), None).expect("discord test config")
}

/// A bot with the Discord adapter started against a fresh fake.
async fn start(settings: &str) -> Harness {
    let fake = FakeDiscord::start().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let config = discord_config(dir.path(), &fake, settings);
    let clock = Arc::new(ManualClock::new(at("2026-11-22T10:00:00Z")));
    let bot = Bot::open(config, clock.clone() as Arc<dyn Clock>)
        .await
        .expect("bot opens");
    let shutdown = CancellationToken::new();
    signalbox::adapter::start_configured(&bot, &shutdown);
    Harness {
        fake,
        bot,
        clock,
        shutdown,
        _dir: dir,
    }
}

/// A harness whose gateway session is up and whose READY was handled.
async fn connected(settings: &str) -> Harness {
    let h = start(settings).await;
    h.fake
        .until("the gateway session", |f| {
            f.identifies() == 1 && f.connected()
        })
        .await;
    let discord = h.bot.discord.clone().expect("discord adapter");
    for _ in 0..500 {
        if discord.user_id().is_some() {
            return h;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("the bot never handled READY");
}

fn tree_status(bot: &Bot, name: &str) -> Status {
    bot.ledger
        .state()
        .trees
        .trees
        .get(&TreeName::new(name))
        .expect("tree exists")
        .condition
        .status
}

fn posts_to(fake: &FakeDiscord, channel: &str) -> Vec<Recorded> {
    let path = format!("/api/v10/channels/{channel}/messages");
    fake.requests()
        .into_iter()
        .filter(|r| r.method == "POST" && r.path == path && r.status == 200)
        .collect()
}

fn content(r: &Recorded) -> &str {
    r.body["content"].as_str().unwrap_or("")
}

fn position(requests: &[Recorded], pred: impl Fn(&Recorded) -> bool) -> usize {
    requests.iter().position(pred).expect("request is recorded")
}

#[tokio::test]
async fn slash_tree_close_from_a_mapped_user_is_deferred_then_followed_up() {
    let h = connected("").await;
    assert_eq!(
        h.fake.intents(),
        Some((1 << 9) | (1 << 12) | (1 << 15)),
        "guild messages, direct messages and message content"
    );
    let options = json!([
        { "name": "trees", "type": 3, "value": "autoland" },
        { "name": "reason", "type": 3, "value": "builds failing #infra" }
    ]);
    h.fake.dispatch(
        "INTERACTION_CREATE",
        interaction(700, ALICE, "tree", Some("close"), options),
    );
    let original = format!("/api/v10/webhooks/{APP}/token-700/messages/@original");
    let edit = h
        .fake
        .wait_for("the follow-up", |r| {
            r.method == "PATCH" && r.path == original
        })
        .await;
    assert!(
        content(&edit).starts_with("closed autoland: builds failing [infra]"),
        "{edit:?}"
    );
    let requests = h.fake.requests();
    let deferred = position(&requests, |r| {
        r.path == "/api/v10/interactions/700/token-700/callback"
    });
    assert_eq!(requests[deferred].body["type"], 5, "a deferred answer");
    let edited = position(&requests, |r| r.method == "PATCH" && r.path == original);
    assert!(deferred < edited, "deferred before the follow-up");
    assert_eq!(tree_status(&h.bot, "autoland"), Status::Closed);
    let state = h.bot.ledger.state();
    let autoland = &state.trees.trees[&TreeName::new("autoland")];
    assert_eq!(autoland.condition.reason, "builds failing");
    assert_eq!(autoland.condition.tags, ["infra"]);
    assert_eq!(autoland.by.as_deref(), Some("alice"));
    // The announcement reaches the configured Discord channel.
    let announced = h
        .fake
        .wait_for("the announcement", |r| {
            r.path == format!("/api/v10/channels/{ANNOUNCE}/messages")
        })
        .await;
    assert!(
        content(&announced).contains("alice closed autoland"),
        "{announced:?}"
    );
    // The same interaction delivered again runs once.
    let before = event_count(&h.bot);
    let options = json!([
        { "name": "trees", "type": 3, "value": "autoland" },
        { "name": "reason", "type": 3, "value": "builds failing #infra" }
    ]);
    h.fake.dispatch(
        "INTERACTION_CREATE",
        interaction(700, ALICE, "tree", Some("close"), options),
    );
    h.fake
        .wait_for("the duplicate's deferral to be withdrawn", |r| {
            r.method == "DELETE" && r.path == original
        })
        .await;
    assert_eq!(
        event_count(&h.bot),
        before,
        "a redelivered interaction runs once"
    );
}

#[tokio::test]
async fn slash_command_from_an_unmapped_user_gets_an_ephemeral_refusal() {
    let h = connected("").await;
    let before = event_count(&h.bot);
    let options = json!([
        { "name": "trees", "type": 3, "value": "autoland" },
        { "name": "reason", "type": 3, "value": "builds failing #infra" }
    ]);
    h.fake.dispatch(
        "INTERACTION_CREATE",
        interaction(701, STRANGER, "tree", Some("close"), options),
    );
    let followup_path = format!("/api/v10/webhooks/{APP}/token-701");
    let followup = h
        .fake
        .wait_for("the refusal", |r| {
            r.method == "POST" && r.path == followup_path
        })
        .await;
    assert_eq!(followup.body["flags"], 64, "ephemeral: {followup:?}");
    assert!(
        content(&followup).contains("tree close needs role \"sheriff\""),
        "{followup:?}"
    );
    let requests = h.fake.requests();
    let original = format!("/api/v10/webhooks/{APP}/token-701/messages/@original");
    let deleted = position(&requests, |r| r.method == "DELETE" && r.path == original);
    let sent = position(&requests, |r| r.method == "POST" && r.path == followup_path);
    assert!(deleted < sent, "the public deferral is withdrawn first");
    assert!(
        !requests
            .iter()
            .any(|r| r.method == "PATCH" && r.path == original),
        "nothing public is said"
    );
    assert_eq!(tree_status(&h.bot, "autoland"), Status::Open);
    assert_eq!(event_count(&h.bot), before);

    // A usage error (a verb the definitions do not have) is ephemeral too.
    h.fake.dispatch(
        "INTERACTION_CREATE",
        interaction(702, ALICE, "tree", Some("shut"), json!([])),
    );
    let path = format!("/api/v10/webhooks/{APP}/token-702");
    let usage = h
        .fake
        .wait_for("the usage error", |r| r.method == "POST" && r.path == path)
        .await;
    assert_eq!(usage.body["flags"], 64);
    assert!(content(&usage).contains("\"shut\""), "{usage:?}");
}

#[tokio::test]
async fn prefix_mention_and_dm_commands() {
    let h = connected("").await;
    h.fake.dispatch(
        "MESSAGE_CREATE",
        message(
            801,
            CHANNEL,
            ALICE,
            "!tree close try bustage #checkin-test",
            true,
        ),
    );
    let reply = h
        .fake
        .wait_for("the prefix reply", |r| {
            r.path == format!("/api/v10/channels/{CHANNEL}/messages")
        })
        .await;
    assert!(
        content(&reply).starts_with("closed try: bustage [checkin-test]"),
        "{reply:?}"
    );
    assert_eq!(reply.body["allowed_mentions"]["parse"], json!([]));
    assert_eq!(reply.body["allowed_mentions"]["users"], json!([]));
    assert_eq!(tree_status(&h.bot, "try"), Status::Closed);

    // Not addressed: nothing is said. A bot's own message is ignored.
    h.fake.dispatch(
        "MESSAGE_CREATE",
        message(802, CHANNEL, ALICE, "tree close all lunch #other", true),
    );
    let mut own = message(803, CHANNEL, BOT, "!tree open try", true);
    own["author"]["bot"] = json!(true);
    h.fake.dispatch("MESSAGE_CREATE", own);
    // A mention addresses the bot like the prefix does.
    h.fake.dispatch(
        "MESSAGE_CREATE",
        message(
            804,
            CHANNEL,
            STRANGER,
            &format!("<@{BOT}> tree status try"),
            true,
        ),
    );
    h.fake
        .until("the mention reply", |f| posts_to(f, CHANNEL).len() == 2)
        .await;
    let posts = posts_to(&h.fake, CHANNEL);
    assert!(content(&posts[1]).contains("try"), "{posts:?}");
    assert!(content(&posts[1]).contains("closed"), "{posts:?}");
    assert_eq!(
        tree_status(&h.bot, "try"),
        Status::Closed,
        "the bot's own message did not run"
    );

    // A direct message needs no prefix; the reply goes to the DM channel.
    h.fake
        .dispatch("MESSAGE_CREATE", message(805, DM, ALICE, "whoami", false));
    let dm = h
        .fake
        .wait_for("the DM reply", |r| {
            r.path == format!("/api/v10/channels/{DM}/messages")
        })
        .await;
    assert!(
        content(&dm).contains(&format!("you are alice (discord user \"{ALICE}\")")),
        "{dm:?}"
    );
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(
        posts_to(&h.fake, CHANNEL).len(),
        2,
        "no reply to unaddressed text"
    );
}

#[tokio::test]
async fn a_dropped_gateway_resumes_without_losing_or_doubling() {
    let h = connected("").await;
    h.fake.dispatch(
        "MESSAGE_CREATE",
        message(
            901,
            CHANNEL,
            ALICE,
            "!tree close autoland bustage #checkin-test",
            true,
        ),
    );
    h.fake
        .until("the first reply", |f| posts_to(f, CHANNEL).len() == 1)
        .await;
    h.fake.drop_gateway();
    // Said while the bot is away: kept by Discord and replayed on RESUME.
    h.fake.dispatch(
        "MESSAGE_CREATE",
        message(902, CHANNEL, ALICE, "!tree open autoland fixed", true),
    );
    h.fake
        .until("the resumed session", |f| f.resumes() == 1 && f.connected())
        .await;
    h.fake
        .until("the replayed message's reply", |f| {
            posts_to(f, CHANNEL).len() == 2
        })
        .await;
    assert_eq!(tree_status(&h.bot, "autoland"), Status::Open);
    // A redelivery of an already handled message runs nothing.
    let before = event_count(&h.bot);
    h.fake.dispatch(
        "MESSAGE_CREATE",
        message(
            901,
            CHANNEL,
            ALICE,
            "!tree close autoland bustage #checkin-test",
            true,
        ),
    );
    h.fake.dispatch(
        "MESSAGE_CREATE",
        message(903, CHANNEL, ALICE, "!ping", true),
    );
    h.fake
        .until("the ping reply", |f| posts_to(f, CHANNEL).len() == 3)
        .await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    let posts = posts_to(&h.fake, CHANNEL);
    assert_eq!(posts.len(), 3, "{posts:#?}");
    assert_eq!(content(&posts[2]), "pong");
    assert_eq!(
        event_count(&h.bot),
        before,
        "the redelivered close ran once"
    );
    assert_eq!(tree_status(&h.bot, "autoland"), Status::Open);
    assert_eq!(h.fake.identifies(), 1, "resumed, not re-identified");
    h.fake
        .until("a heartbeat on the resumed session", |f| {
            f.heartbeats() >= 1
        })
        .await;
    assert!(
        h.fake.connected(),
        "heartbeats were ACKed: the session stays up"
    );
}

#[tokio::test]
async fn commands_are_registered_per_guild_on_start() {
    let h = start(&format!(
        "register_commands = true\nguild_ids = [\"{GUILD}\"]\n"
    ))
    .await;
    let path = format!("/api/v10/applications/{APP}/guilds/{GUILD}/commands");
    let put = h
        .fake
        .wait_for("the bulk overwrite", |r| {
            r.method == "PUT" && r.path == path
        })
        .await;
    assert_eq!(
        put.body,
        signalbox_commands::manifest::discord::application_commands()
    );
    let checked_in: Value =
        serde_json::from_str(include_str!("../../manifests/discord.json")).expect("json");
    assert_eq!(put.body, checked_in);
    let cli = std::process::Command::new(bin())
        .args(["manifest", "discord"])
        .output()
        .expect("run signalbox manifest discord");
    assert!(cli.status.success());
    let printed: Value = serde_json::from_slice(&cli.stdout).expect("json on stdout");
    assert_eq!(printed, checked_in);
}

#[tokio::test]
async fn a_deleted_channel_is_rejected_for_good_not_retried() {
    use signalbox::adapter::{Adapter as _, SendError};
    use signalbox::outbox::Destination;
    let h = connected("").await;
    let discord = h.bot.discord.clone().expect("discord adapter");
    let gone = Destination::Channel(ChannelAddr::new(Network::Discord, GONE));
    let result = discord.send(&gone, "autoland closed").await;
    assert!(
        matches!(&result, Err(SendError::Rejected(e)) if e.contains("Unknown Channel")),
        "{result:?}"
    );
    let malformed = Destination::Channel(ChannelAddr::new(Network::Discord, "releng"));
    let result = discord.send(&malformed, "autoland closed").await;
    assert!(
        matches!(&result, Err(SendError::Rejected(e)) if e.contains("\"discord:releng\"")),
        "{result:?}"
    );
    let attempts = h
        .fake
        .requests()
        .into_iter()
        .filter(|r| r.path == format!("/api/v10/channels/{GONE}/messages"))
        .count();
    assert_eq!(attempts, 1, "a 404 is not retried");
}

/// What Discord refuses for good comes back from `send` as `Rejected`, the
/// outcome every adapter gives it: a topic for a channel Discord does not
/// know (404, Unknown Channel) and a DM to a user who takes none (50007).
#[tokio::test]
async fn a_refused_topic_and_an_undeliverable_dm_are_rejected() {
    use signalbox::adapter::{Adapter as _, SendError};
    use signalbox::outbox::Destination;

    let h = connected("").await;
    let discord = h.bot.discord.clone().expect("discord adapter");
    let topic = Destination::Topic(ChannelAddr::new(Network::Discord, GONE));
    match discord.send(&topic, "autoland closed").await {
        Err(SendError::Rejected(why)) => assert!(why.contains("Unknown Channel"), "{why}"),
        other => panic!("a refused topic is Rejected, got {other:?}"),
    }
    let dm = Destination::Direct {
        network: Network::Discord,
        user: signalbox_commands::PlatformUserId::new(GONE_USER),
    };
    match discord.send(&dm, "your loaner is ready").await {
        Err(SendError::Rejected(why)) => {
            assert!(why.contains("Cannot send messages to this user"), "{why}")
        }
        other => panic!("an undeliverable DM is Rejected, got {other:?}"),
    }
}

#[tokio::test]
async fn announcements_dms_topics_and_rate_limits() {
    let h = connected("").await;
    let discord = h.bot.discord.clone().expect("discord adapter");
    discord
        .set_topic(
            &ChannelAddr::new(Network::Discord, ANNOUNCE),
            "autoland closed: bustage",
        )
        .await
        .expect("topic set");
    let topic = h
        .fake
        .wait_for("the topic edit", |r| {
            r.method == "PATCH" && r.path == format!("/api/v10/channels/{ANNOUNCE}")
        })
        .await;
    assert_eq!(topic.body["topic"], "autoland closed: bustage");

    use signalbox::adapter::Adapter as _;
    use signalbox::outbox::Destination;
    discord
        .send(
            &Destination::Direct {
                network: Network::Discord,
                user: signalbox_commands::PlatformUserId::new(ALICE),
            },
            "your loaner expires in 1h",
        )
        .await
        .expect("dm sent");
    let opened = h
        .fake
        .wait_for("the DM channel", |r| {
            r.path == "/api/v10/users/@me/channels"
        })
        .await;
    assert_eq!(opened.body["recipient_id"], ALICE);
    assert_eq!(
        content(&posts_to(&h.fake, DM)[0]),
        "your loaner expires in 1h"
    );

    // Two 429s in a row: the message still arrives, once.
    h.fake.rate_limit_next(2);
    h.fake.dispatch(
        "MESSAGE_CREATE",
        message(950, CHANNEL, ALICE, "!ping", true),
    );
    h.fake
        .until("the reply after 429s", |f| posts_to(f, CHANNEL).len() == 1)
        .await;
    let attempts: Vec<u16> = h
        .fake
        .requests()
        .iter()
        .filter(|r| r.path == format!("/api/v10/channels/{CHANNEL}/messages"))
        .map(|r| r.status)
        .collect();
    assert_eq!(attempts, [429, 429, 200]);

    // Long replies are split at Discord's 2000-character limit.
    let long = "x".repeat(4500);
    discord
        .send(
            &Destination::Channel(ChannelAddr::new(Network::Discord, ANNOUNCE)),
            &long,
        )
        .await
        .expect("long message sent");
    let parts: Vec<usize> = posts_to(&h.fake, ANNOUNCE)
        .iter()
        .map(|r| content(r).chars().count())
        .collect();
    assert_eq!(parts, [2000, 2000, 500]);
}

// ---- HTTP interactions endpoint ----

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

struct Endpoint {
    h: Harness,
    addr: SocketAddr,
    key: SigningKey,
}

async fn endpoint() -> Endpoint {
    let key = SigningKey::from_bytes(&[7u8; 32]);
    let public = hex(key.verifying_key().as_bytes());
    let h = start(&format!("mode = \"http\"\npublic_key = \"{public}\"\n")).await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(signalbox::http::serve(
        listener,
        h.bot.http_state(),
        h.shutdown.clone(),
    ));
    Endpoint { h, addr, key }
}

/// POSTs `body` to the interactions endpoint, signed by `key` (or with the
/// given signature), and returns status and body.
async fn post_interaction(
    addr: SocketAddr,
    body: &str,
    timestamp: &str,
    signature: Option<String>,
) -> (u16, String) {
    let body = body.to_string();
    let timestamp = timestamp.to_string();
    tokio::task::spawn_blocking(move || {
        let mut stream =
            TcpStream::connect_timeout(&addr, Duration::from_secs(5)).expect("connect");
        stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .expect("timeout");
        let mut head = format!(
            "POST /discord/interactions HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: {}\r\nX-Signature-Timestamp: {timestamp}\r\n",
            body.len()
        );
        if let Some(sig) = signature {
            head.push_str(&format!("X-Signature-Ed25519: {sig}\r\n"));
        }
        head.push_str("\r\n");
        stream.write_all(head.as_bytes()).expect("write head");
        stream.write_all(body.as_bytes()).expect("write body");
        let mut raw = Vec::new();
        stream.read_to_end(&mut raw).expect("read");
        let text = String::from_utf8_lossy(&raw).to_string();
        let status = text
            .split(' ')
            .nth(1)
            .and_then(|s| s.parse().ok())
            .expect("status line");
        let (_, body) = text.split_once("\r\n\r\n").expect("head and body");
        (status, body.to_string())
    })
    .await
    .expect("join")
}

fn sign(key: &SigningKey, timestamp: &str, body: &str) -> String {
    hex(&key.sign(format!("{timestamp}{body}").as_bytes()).to_bytes())
}

#[tokio::test]
async fn interactions_endpoint_answers_a_signed_ping_with_pong() {
    let e = endpoint().await;
    let ping = json!({ "id": "710", "application_id": APP, "type": 1, "token": "t", "version": 1 })
        .to_string();
    let (status, body) = post_interaction(
        e.addr,
        &ping,
        "1763800000",
        Some(sign(&e.key, "1763800000", &ping)),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        serde_json::from_str::<Value>(&body).expect("json"),
        json!({ "type": 1 })
    );
}

#[tokio::test]
async fn interactions_endpoint_refuses_bad_signatures_and_runs_nothing() {
    let e = endpoint().await;
    let before = event_count(&e.h.bot);
    let close = interaction(
        711,
        ALICE,
        "tree",
        Some("close"),
        json!([
            { "name": "trees", "type": 3, "value": "autoland" },
            { "name": "reason", "type": 3, "value": "forged #infra" }
        ]),
    )
    .to_string();
    let other = SigningKey::from_bytes(&[9u8; 32]);
    let ts = "1763800000";
    let good = sign(&e.key, ts, &close);
    let cases = [
        ("signed by another key", Some(sign(&other, ts, &close)), ts),
        ("no signature", None, ts),
        ("not hex", Some("zz".repeat(64)), ts),
        ("a different timestamp", Some(good.clone()), "1763800001"),
    ];
    for (what, signature, timestamp) in cases {
        let (status, _) = post_interaction(e.addr, &close, timestamp, signature).await;
        assert_eq!(status, 401, "{what}");
    }
    // The body changed after signing.
    let tampered = close.replace("forged", "forgex");
    let (status, _) = post_interaction(e.addr, &tampered, ts, Some(good)).await;
    assert_eq!(status, 401, "tampered body");
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(event_count(&e.h.bot), before, "nothing ran");
    assert_eq!(tree_status(&e.h.bot, "autoland"), Status::Open);
    assert!(
        e.h.fake.requests().is_empty(),
        "nothing was sent to discord: {:?}",
        e.h.fake.requests()
    );
}

#[tokio::test]
async fn interactions_endpoint_runs_signed_commands_with_ephemeral_refusals() {
    let e = endpoint().await;
    let ts = "1763800000";
    let close = interaction(
        720,
        ALICE,
        "tree",
        Some("close"),
        json!([
            { "name": "trees", "type": 3, "value": "autoland" },
            { "name": "reason", "type": 3, "value": "builds failing #infra" }
        ]),
    )
    .to_string();
    let (status, body) = post_interaction(e.addr, &close, ts, Some(sign(&e.key, ts, &close))).await;
    assert_eq!(status, 200, "{body}");
    let answer: Value = serde_json::from_str(&body).expect("json");
    assert_eq!(answer["type"], 4, "{answer}");
    assert!(
        answer["data"]["content"]
            .as_str()
            .expect("content")
            .starts_with("closed autoland: builds failing [infra]"),
        "{answer}"
    );
    assert!(
        answer["data"].get("flags").is_none_or(|f| f == 0),
        "{answer}"
    );
    assert_eq!(tree_status(&e.h.bot, "autoland"), Status::Closed);

    let refused = interaction(
        721,
        STRANGER,
        "tree",
        Some("open"),
        json!([{ "name": "trees", "type": 3, "value": "autoland" }]),
    )
    .to_string();
    let (status, body) =
        post_interaction(e.addr, &refused, ts, Some(sign(&e.key, ts, &refused))).await;
    assert_eq!(status, 200, "{body}");
    let answer: Value = serde_json::from_str(&body).expect("json");
    assert_eq!(answer["data"]["flags"], 64, "{answer}");
    assert!(
        answer["data"]["content"]
            .as_str()
            .expect("content")
            .contains("needs role \"sheriff\""),
        "{answer}"
    );
    assert_eq!(tree_status(&e.h.bot, "autoland"), Status::Closed);
}

/// carol is on Discord; bob is not; security is carol's.
const CAROL: &str = "100000000000000003";

fn mentions_settings() -> String {
    format!("\n[people.carol]\ndiscord = \"{CAROL}\"\n[liaisons]\nsecurity = [\"carol\"]\n")
}

/// Says `text` in the guild channel as `author`; the bot's posts to
/// `channel` that came of it.
async fn say_and_wait(
    h: &Harness,
    id: u64,
    author: &str,
    text: &str,
    channel: &str,
    posts: usize,
) -> Vec<Recorded> {
    h.fake
        .dispatch("MESSAGE_CREATE", message(id, CHANNEL, author, text, true));
    h.fake
        .until("the bot's posts", |f| posts_to(f, channel).len() >= posts)
        .await;
    posts_to(&h.fake, channel)
}

fn allowed_users(r: &Recorded) -> Value {
    assert_eq!(r.body["allowed_mentions"]["parse"], json!([]), "{r:?}");
    r.body["allowed_mentions"]["users"].clone()
}

#[tokio::test]
async fn pings_name_exactly_the_people_called_and_mentions_name_people() {
    let h = connected(&mentions_settings()).await;
    // Mentions in: both forms of a known id; an unknown one is refused.
    let posts = say_and_wait(
        &h,
        901,
        ALICE,
        &format!("!role set security <@!{CAROL}>"),
        CHANNEL,
        1,
    )
    .await;
    assert_eq!(content(&posts[0]), "security is covered by carol");
    let posts = say_and_wait(
        &h,
        902,
        ALICE,
        &format!("!role set security <@{STRANGER}>"),
        CHANNEL,
        2,
    )
    .await;
    assert!(
        content(&posts[1]).contains(&format!("\"<@{STRANGER}>\"")),
        "{posts:?}"
    );
    let posts = say_and_wait(
        &h,
        903,
        ALICE,
        &format!("!role set security <@{CAROL}>"),
        CHANNEL,
        3,
    )
    .await;
    assert_eq!(content(&posts[2]), "security is covered by carol");

    // Escalation: the reply pings nobody; the call pings carol alone.
    let posts = say_and_wait(&h, 904, ALICE, "!escalate security disk full", CHANNEL, 5).await;
    let call = posts
        .iter()
        .find(|p| content(p).contains("escalation #1 (security) from alice"))
        .expect("the call");
    assert!(
        content(call).starts_with(&format!("<@{CAROL}>: ")),
        "{call:?}"
    );
    assert_eq!(allowed_users(call), json!([CAROL]));
    let reply = posts
        .iter()
        .find(|p| content(p).starts_with("escalation #1 sent to carol"))
        .expect("the reply");
    assert_eq!(allowed_users(reply), json!([]));

    // A window start pings its deployers, then the owners of its patches.
    say_and_wait(
        &h,
        905,
        ALICE,
        &format!("!window add hotfix 10:30 1h <@{CAROL}> bob"),
        CHANNEL,
        6,
    )
    .await;
    say_and_wait(&h, 906, ALICE, "!window join hotfix 1234", CHANNEL, 7).await;
    h.clock.advance(chrono::Duration::minutes(31));
    h.bot.scheduler().tick().await;
    h.fake
        .until("the window start", |f| {
            posts_to(f, ANNOUNCE)
                .iter()
                .filter(|p| content(p).contains("up in hotfix"))
                .count()
                == 1
        })
        .await;
    let announced = posts_to(&h.fake, ANNOUNCE);
    let start = announced
        .iter()
        .find(|p| content(p).starts_with("deploy window hotfix starts now"))
        .expect("the start");
    assert!(
        content(start).ends_with(&format!("deployers: <@{CAROL}>, bob")),
        "{start:?}"
    );
    assert_eq!(allowed_users(start), json!([CAROL]));
    let owners = announced
        .iter()
        .find(|p| content(p).contains("up in hotfix"))
        .expect("the owners' ping");
    assert!(
        content(owners).starts_with(&format!("<@{ALICE}>: ")),
        "{owners:?}"
    );
    assert_eq!(allowed_users(owners), json!([ALICE]));

    // Text that holds @everyone (or someone's id) pings nobody.
    say_and_wait(
        &h,
        907,
        ALICE,
        &format!("!tree close try @everyone <@{STRANGER}> look #infra"),
        CHANNEL,
        8,
    )
    .await;
    h.fake
        .until("the tree announcement", |f| {
            posts_to(f, ANNOUNCE)
                .iter()
                .any(|p| content(p).contains("@everyone"))
        })
        .await;
    for post in posts_to(&h.fake, ANNOUNCE)
        .iter()
        .chain(&posts_to(&h.fake, CHANNEL))
    {
        if content(post).contains("@everyone") {
            assert_eq!(allowed_users(post), json!([]), "{post:?}");
        }
    }
}

/// The console's abuse checks (`abuse.rs`) through the Discord gateway: a
/// megabyte of content and ten thousand words are refused with a short
/// message; a MESSAGE_CREATE whose content is an escaped lone surrogate
/// (JSON, but not UTF-8 text) is dropped. Nothing changes, nothing panics,
/// and the same session serves the next command.
#[tokio::test]
async fn absurd_content_from_discord_is_refused_cleanly_and_the_next_command_runs() {
    let h = connected("").await;
    let events = h.bot.ledger.events().expect("events").len();
    let megabyte = format!("!tree close autoland {} #infra", "x".repeat(1 << 20));
    let words = format!("!tree close autoland {}#infra", "w ".repeat(10_000));
    for (i, text) in [megabyte, words].iter().enumerate() {
        h.fake.dispatch(
            "MESSAGE_CREATE",
            message(900 + i as u64, CHANNEL, ALICE, text, true),
        );
    }
    h.fake
        .until("both refusals", |f| posts_to(f, CHANNEL).len() == 2)
        .await;
    for post in posts_to(&h.fake, CHANNEL) {
        assert!(content(&post).contains("message too long"), "{post:?}");
        assert!(
            content(&post).len() < 300,
            "the reply does not echo the flood"
        );
    }
    let mut bad = message(910, CHANNEL, ALICE, "SURROGATE", true).to_string();
    bad = bad.replace("SURROGATE", r"!tree close autoland \ud800 #infra");
    h.fake.dispatch_raw("MESSAGE_CREATE", &bad);
    h.fake.dispatch(
        "MESSAGE_CREATE",
        message(911, CHANNEL, ALICE, "!ping", true),
    );
    h.fake
        .until("the next command answered", |f| {
            posts_to(f, CHANNEL).iter().any(|p| content(p) == "pong")
        })
        .await;
    assert_eq!(
        posts_to(&h.fake, CHANNEL).len(),
        3,
        "the surrogate was not answered"
    );
    assert_eq!(h.bot.ledger.events().expect("events").len(), events);
    assert_eq!(tree_status(&h.bot, "autoland"), Status::Open);
}

/// Exactly once across a crash in the window: `run` posts the first of two
/// queued announcements and is killed (`kill -9`) before the outbox entry
/// is removed. The restarted bot sends it again with the same nonce and
/// `enforce_nonce`, so Discord answers with the message it already has and
/// the channel gets it once; the second announcement, behind it, once too.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crash_between_post_and_removal_posts_nothing_twice() {
    let fake = FakeDiscord::start().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let config = dir.path().join("config.toml");
    let text = config_text(
        dir.path(),
        &format!(
            "\n[adapters.discord]\nbot_token = \"fake-bot-token\"\napplication_id = \"{APP}\"\napi_url = \"{}\"\n",
            fake.api_url()
        ),
    )
    .replace(
        "trees = [\"console:#ops\"]",
        &format!("trees = [\"discord:{ANNOUNCE}\"]"),
    );
    std::fs::write(&config, text).expect("write config");
    queue_two_announcements(&config);
    let log = dir.path().join("bot.log");
    let created = |needle: &str| {
        fake.created(ANNOUNCE)
            .iter()
            .filter(|m| m["content"].as_str().unwrap_or("").contains(needle))
            .count()
    };
    let attempts = |needle: &str| -> Vec<Recorded> {
        posts_to(&fake, ANNOUNCE)
            .into_iter()
            .filter(|r| content(r).contains(needle))
            .collect()
    };

    let _second = crash_after_the_first_send(&config, &log, WITHIN, created).await;
    assert_eq!(created("first-of-two"), 1, "{:#?}", fake.created(ANNOUNCE));
    assert_eq!(fake.created(ANNOUNCE).len(), 2);
    let sent = attempts("first-of-two");
    assert_eq!(
        sent.len(),
        2,
        "sent, then resent after the crash: {sent:#?}"
    );
    for r in &sent {
        assert_eq!(r.body["enforce_nonce"], true, "{r:#?}");
    }
    assert_eq!(sent[0].body["nonce"], sent[1].body["nonce"], "{sent:#?}");
    let second = attempts("second-of-two");
    assert_ne!(sent[0].body["nonce"], second[0].body["nonce"]);
}

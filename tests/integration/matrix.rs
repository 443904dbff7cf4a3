//! The Matrix adapter on a real homeserver: Synapse from PyPI on loopback
//! (scripts/matrix-server), the bot in-process or as the binary, and test
//! users on matrix-sdk. Identity is the sender's Matrix id; rooms may be
//! plain, encrypted, or DMs; restarts replay nothing and lose nothing.

use std::path::Path;
use std::process::{Child, Command};
use std::sync::Arc;
use std::time::Duration;

use matrix_sdk::ruma::events::room::message::Relation;
use matrix_sdk::ruma::{OwnedRoomId, OwnedUserId, RoomId};
use signalbox::Bot;
use signalbox::adapter::matrix::Matrix;
use signalbox::clock::{Clock, ManualClock, SystemClock};
use signalbox::config::Config;
use signalbox::ledger::Ledger;
use signalbox_commands::Network;
use signalbox_commands::tree::Status;
use tokio_util::sync::CancellationToken;

use crate::common::{
    BotProcess, HANG_AFTER_SEND, bin, config_text, queue_two_announcements, say, tree_status,
};
use crate::matrix_client::{Homeserver, PASSWORD, User, WAIT, body, is_notice, start_adapter};

/// A running bot with its Matrix adapter; stopped on drop.
struct Running {
    bot: Bot,
    /// The adapter, for tests that call `send` on it directly.
    matrix: Arc<Matrix>,
    shutdown: CancellationToken,
}

impl Drop for Running {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

/// The example config with the bot on `hs`, alice (admin, sheriff) and bob
/// mapped to their Matrix ids there, and `extra` inside `[adapters.matrix]`.
fn config_for(dir: &Path, hs: &Homeserver, extra: &str, trees_to: Option<&RoomId>) -> String {
    let server = &hs.server_name;
    let mut text = config_text(
        dir,
        &format!(
            r#"
[adapters.matrix]
homeserver = "{url}"
user = "@signalbox:{server}"
password = "{PASSWORD}"
{extra}
"#,
            url = hs.url()
        ),
    )
    .replace("@alice:example.org", &format!("@alice:{server}"))
    .replace("@bob:example.org", &format!("@bob:{server}"));
    if let Some(room) = trees_to {
        text = text.replace(
            "trees = [\"console:#ops\"]",
            &format!("trees = [\"console:#ops\", \"matrix:{room}\"]"),
        );
    }
    text
}

async fn start_bot(text: &str) -> Running {
    start_bot_on(text, Arc::new(SystemClock)).await
}

async fn start_bot_on(text: &str, clock: Arc<dyn Clock>) -> Running {
    let mut config =
        Config::from_text(text, "matrix-test.toml", &Default::default(), None).expect("valid");
    config.bot.rate_limit_burst = 0;
    let bot = Bot::open(config, clock).await.expect("bot opens");
    let (matrix, shutdown) = start_adapter(&bot);
    Running {
        bot,
        matrix,
        shutdown,
    }
}

/// Synapse with the bot's account, alice (mapped) and mallory (unmapped),
/// and the bot running in-process with its own data dir.
/// (Fields drop in order: the bot stops before Synapse does.)
struct Scene {
    run: Running,
    bot: OwnedUserId,
    alice: User,
    mallory: User,
    _hs: Homeserver,
    _dir: tempfile::TempDir,
}

impl Scene {
    /// A room alice creates (encrypted or not) with mallory and the bot in it.
    async fn room(&mut self, encrypted: bool) -> OwnedRoomId {
        let mallory = self.mallory.id.clone();
        let room = self
            .alice
            .create_room(encrypted, &[&self.bot, &mallory])
            .await;
        self.mallory.join(&room).await;
        self.alice.wait_joined(&room, &self.bot).await;
        self.alice.wait_joined(&room, &mallory).await;
        self.mallory.wait_joined(&room, &self.bot).await;
        room
    }
}

async fn scene() -> Scene {
    let hs = Homeserver::start();
    hs.register("signalbox");
    let bot = bot_id(&hs);
    let alice = User::new(&hs, "alice").await;
    let mallory = User::new(&hs, "mallory").await;
    let dir = tempfile::tempdir().expect("tempdir");
    let run = start_bot(&config_for(dir.path(), &hs, "", None)).await;
    Scene {
        _hs: hs,
        bot,
        alice,
        mallory,
        run,
        _dir: dir,
    }
}

fn bot_id(hs: &Homeserver) -> OwnedUserId {
    hs.user_id("signalbox")
}

/// A mapped user closes a tree in `room`; an unmapped one cannot reopen it.
async fn close_and_refuse(
    run: &Running,
    bot: &OwnedUserId,
    alice: &mut User,
    mallory: &mut User,
    room: &RoomId,
    tree: &str,
) {
    let asked = alice
        .say(room, &format!("!tree close {tree} builds failing #infra"))
        .await;
    let confirm = alice
        .wait_for(room, bot, |b| b.starts_with(&format!("closed {tree}")))
        .await;
    assert!(
        body(&confirm).contains("builds failing"),
        "{}",
        body(&confirm)
    );
    assert!(is_notice(&confirm), "the bot answers with m.notice");
    match &confirm.content.relates_to {
        Some(Relation::Reply(reply)) => assert_eq!(reply.in_reply_to.event_id, asked),
        other => panic!("the confirmation is a reply to the command, got {other:?}"),
    }
    let html = match &confirm.content.msgtype {
        matrix_sdk::ruma::events::room::message::MessageType::Notice(n) => {
            n.formatted.as_ref().map(|f| f.body.clone())
        }
        _ => None,
    };
    assert!(
        html.is_some_and(|h| h.contains(tree)),
        "the notice has an HTML body"
    );
    assert_eq!(tree_status(&run.bot, tree), Status::Closed);

    let events = run.bot.ledger.events().expect("events").len();
    mallory.say(room, &format!("!tree open {tree}")).await;
    let refusal = mallory
        .wait_for(room, bot, |b| b.contains("needs role"))
        .await;
    assert!(
        body(&refusal).contains(&format!("\"{}\" is not an identified person", mallory.id))
            || body(&refusal).contains("is not mapped to a person"),
        "{}",
        body(&refusal)
    );
    assert_eq!(tree_status(&run.bot, tree), Status::Closed);
    assert_eq!(run.bot.ledger.events().expect("events").len(), events);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_mapped_user_closes_a_tree_and_an_unmapped_user_is_refused() {
    let mut s = scene().await;
    // The bot accepts an invite from a person in [people].
    let room = s.room(false).await;
    close_and_refuse(
        &s.run,
        &s.bot,
        &mut s.alice,
        &mut s.mallory,
        &room,
        "autoland",
    )
    .await;
    let (bot, mallory) = (&s.bot, &mut s.mallory);

    // An invite from someone the config does not know is ignored.
    let theirs = mallory.create_room(false, &[bot]).await;
    let seen = mallory.collect(&theirs, bot, Duration::from_secs(3)).await;
    assert!(seen.is_empty());
    let joined = mallory
        .client
        .get_room(&theirs)
        .expect("mallory's room")
        .members(matrix_sdk::RoomMemberships::JOIN)
        .await
        .expect("members");
    assert!(joined.iter().all(|m| m.user_id() != *bot), "bot stayed out");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_encrypted_room_and_a_dm_work() {
    let mut s = scene().await;
    let room = s.room(true).await;
    let encrypted = s
        .alice
        .client
        .get_room(&room)
        .expect("room")
        .latest_encryption_state()
        .await
        .expect("encryption state")
        .is_encrypted();
    assert!(encrypted, "the room is encrypted");
    close_and_refuse(&s.run, &s.bot, &mut s.alice, &mut s.mallory, &room, "try").await;
    let (bot, alice) = (&s.bot, &mut s.alice);

    // A DM (encrypted, as Element creates them): no prefix needed.
    let dm = alice
        .client
        .create_dm(bot)
        .await
        .expect("create dm")
        .room_id()
        .to_owned();
    alice.wait_joined(&dm, bot).await;
    alice.say(&dm, "whoami").await;
    let whoami = alice.wait_for(&dm, bot, |b| b.starts_with("you are")).await;
    assert!(body(&whoami).contains("you are alice"), "{}", body(&whoami));
    alice.say(&dm, "tree try").await;
    let status = alice.wait_for(&dm, bot, |b| b.contains("try")).await;
    assert!(body(&status).contains("closed"), "{}", body(&status));
}

/// The binary, as an operator runs it; killed on drop.
struct Process(Child);

impl Process {
    /// Its output goes to `log` (read it when a test fails).
    fn start(config: &Path, log: &Path) -> Process {
        let out = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(log)
            .expect("log file");
        let child = Command::new(bin())
            .args(["run", "--config"])
            .arg(config)
            .stdin(std::process::Stdio::null())
            .stdout(out.try_clone().expect("log file"))
            .stderr(out)
            .spawn()
            .expect("start the bot");
        Process(child)
    }

    /// SIGTERM, then wait for the exit.
    fn stop(mut self) {
        let pid = self.0.id().to_string();
        let status = Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .expect("kill");
        assert!(status.success());
        for _ in 0..200 {
            if let Ok(Some(_)) = self.0.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("the bot did not stop within 10 s of SIGTERM");
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restart_replays_nothing_and_runs_what_came_while_down_once() {
    let hs = Homeserver::start();
    hs.register("signalbox");
    let bot = bot_id(&hs);
    let mut alice = User::new(&hs, "alice").await;
    let dir = tempfile::tempdir().expect("tempdir");
    let room = alice.create_room(false, &[&bot]).await;
    let path = dir.path().join("config.toml");
    std::fs::write(
        &path,
        config_for(dir.path(), &hs, &format!("rooms = [\"{room}\"]"), None),
    )
    .expect("write config");

    let log = dir.path().join("bot.log");
    let first = Process::start(&path, &log);
    alice.wait_joined(&room, &bot).await;
    for n in 1..=20 {
        alice.say(&room, &format!("!status log entry-{n}")).await;
        alice
            .wait_for(&room, &bot, |b| b.contains(&format!("entry-{n}")))
            .await;
    }
    first.stop();

    alice.say(&room, "!status log entry-while-down").await;
    let second = Process::start(&path, &log);
    alice
        .wait_for(&room, &bot, |b| b.contains("entry-while-down"))
        .await;
    // A few more syncs' worth of time: nothing from before is answered again.
    let late = alice.collect(&room, &bot, Duration::from_secs(5)).await;
    assert!(
        late.is_empty(),
        "replayed: {:?}",
        late.iter().map(body).collect::<Vec<_>>()
    );
    second.stop();

    let ledger = Ledger::open(&dir.path().join("data")).expect("ledger");
    let logged: Vec<String> = ledger
        .events()
        .expect("events")
        .iter()
        .map(|e| serde_json::to_string(e).expect("json"))
        .filter(|e| e.contains("entry-"))
        .collect();
    // (The other events are the config's trees and the scheduler's jobs.)
    assert_eq!(logged.len(), 21, "{logged:#?}");
    for n in (1..=20)
        .map(|n| format!("entry-{n}\""))
        .chain(["entry-while-down".into()])
    {
        let runs = logged.iter().filter(|e| e.contains(n.as_str())).count();
        assert_eq!(runs, 1, "{n} ran once");
    }
}

/// Tree announcements go first to an alias that does not exist, then to the
/// room: while Synapse is down both wait; once it is back, the homeserver's
/// 404 for the alias drops those (rather than retrying them ahead of the
/// rest) and the room gets each of its announcements once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn announcements_queued_while_the_homeserver_is_down_arrive_once() {
    let hs = Homeserver::start();
    hs.register("signalbox");
    let bot = bot_id(&hs);
    let mut alice = User::new(&hs, "alice").await;
    let room = alice.create_room(false, &[&bot]).await;
    let dir = tempfile::tempdir().expect("tempdir");
    let text = config_for(
        dir.path(),
        &hs,
        &format!("rooms = [\"{room}\"]"),
        Some(&room),
    )
    .replace(
        &format!("\"matrix:{room}\""),
        &format!("\"matrix:#gone:{}\", \"matrix:{room}\"", hs.server_name),
    );
    let run = start_bot(&text).await;
    alice.wait_joined(&room, &bot).await;

    hs.stop();
    let trees = ["autoland", "mozilla-central", "try"];
    for tree in trees {
        let reply = say(
            &run.bot,
            "alice",
            &format!("!tree close {tree} outage #infra"),
        )
        .await;
        assert!(reply.starts_with(&format!("closed {tree}")), "{reply}");
    }
    assert!(
        !run.bot
            .ledger
            .pending(Some(Network::Matrix))
            .expect("outbox")
            .is_empty(),
        "the announcements wait in the outbox"
    );
    tokio::time::sleep(Duration::from_secs(10)).await;
    hs.restart();

    assert!(
        signalbox::outbox::drained(&run.bot.ledger, Network::Matrix, WAIT * 2).await,
        "the outbox drained after the homeserver returned"
    );
    let seen = alice.collect(&room, &bot, Duration::from_secs(5)).await;
    for tree in trees {
        let count = seen.iter().filter(|m| body(m).contains(tree)).count();
        assert_eq!(
            count,
            1,
            "{tree} announced once: {:?}",
            seen.iter().map(body).collect::<Vec<_>>()
        );
    }
}

/// The user ids a message mentions (`m.mentions`), sorted.
fn mentioned(
    m: &matrix_sdk::ruma::events::room::message::OriginalSyncRoomMessageEvent,
) -> Vec<String> {
    m.content
        .mentions
        .as_ref()
        .map(|x| x.user_ids.iter().map(|u| u.to_string()).collect())
        .unwrap_or_default()
}

/// The HTML body of a notice.
fn html(m: &matrix_sdk::ruma::events::room::message::OriginalSyncRoomMessageEvent) -> String {
    match &m.content.msgtype {
        matrix_sdk::ruma::events::room::message::MessageType::Notice(n) => n
            .formatted
            .as_ref()
            .map(|f| f.body.clone())
            .unwrap_or_default(),
        _ => String::new(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pings_are_pills_with_m_mentions_and_ids_or_pills_name_people() {
    use matrix_sdk::ruma::api::client::room::create_room::v3::Request as CreateRoom;
    use matrix_sdk::ruma::events::room::message::RoomMessageEventContent;

    let hs = Homeserver::start();
    hs.register("signalbox");
    let bot = bot_id(&hs);
    let mut alice = User::new(&hs, "alice").await;
    let mut bob = User::new(&hs, "bob").await;
    let server = hs.server_name.clone();
    let dir = tempfile::tempdir().expect("tempdir");
    let text = config_for(
        dir.path(),
        &hs,
        "\n[liaisons]\nsecurity = [\"alice\"]\n",
        None,
    )
    .replace(
        "windows = [\"console:#ops\"]",
        &format!("windows = [\"matrix:#releng:{server}\"]"),
    );
    let now = SystemClock::current();
    let clock = Arc::new(ManualClock::new(now));
    let run = start_bot_on(&text, clock.clone() as Arc<dyn Clock>).await;

    // #releng, with the bot and bob invited.
    let mut request = CreateRoom::new();
    request.invite = vec![bot.clone(), bob.id.clone()];
    request.room_alias_name = Some("releng".to_string());
    let room = alice
        .client
        .create_room(request)
        .await
        .expect("create room");
    let room_id = room.room_id().to_owned();
    bob.join(&room_id).await;
    alice.wait_joined(&room_id, &bot).await;
    bob.wait_joined(&room_id, &bot).await;
    let alice_id = alice.id.to_string();
    let bob_id = bob.id.to_string();

    // Escalation: the call is a pill for alice with her id in m.mentions.
    bob.say(&room_id, "!escalate security disk full").await;
    let call = bob
        .wait_for(&room_id, &bot, |b| b.contains("from bob: disk full"))
        .await;
    assert!(
        body(&call).starts_with("alice: escalation #1 (security)"),
        "{}",
        body(&call)
    );
    assert_eq!(mentioned(&call), [alice_id.as_str()]);
    assert!(
        html(&call).starts_with(&format!(
            "<a href=\"https://matrix.to/#/{alice_id}\">alice</a>: "
        )),
        "{}",
        html(&call)
    );

    // Mentions in: a Matrix id, and the pill a client sends.
    alice
        .say(&room_id, &format!("!role set security {bob_id}"))
        .await;
    let reply = alice
        .wait_for(&room_id, &bot, |b| b.starts_with("security is covered"))
        .await;
    assert_eq!(body(&reply), "security is covered by bob");
    let pill = format!("!role set security <a href=\"https://matrix.to/#/{alice_id}\">Alice</a>");
    room.send(RoomMessageEventContent::text_html(
        "!role set security Alice",
        pill,
    ))
    .await
    .expect("send the pill");
    let reply = alice
        .wait_for(&room_id, &bot, |b| b.starts_with("security is covered"))
        .await;
    assert_eq!(body(&reply), "security is covered by alice");
    alice
        .say(&room_id, &format!("!role set security @eve:{server}"))
        .await;
    let refusal = alice.wait_for(&room_id, &bot, |b| b.contains("@eve")).await;
    assert!(
        body(&refusal).contains(&format!("mention \"@eve:{server}\"")),
        "{}",
        body(&refusal)
    );

    // A window start pings its deployers, then the owners of its patches.
    let start = (now + chrono::Duration::hours(2))
        .format("%Y-%m-%dT%H:%M")
        .to_string();
    alice
        .say(
            &room_id,
            &format!("!window add hotfix {start} 1h {alice_id} bob"),
        )
        .await;
    alice
        .wait_for(&room_id, &bot, |b| b.starts_with("added window hotfix"))
        .await;
    bob.say(&room_id, "!window join hotfix 1234").await;
    bob.wait_for(&room_id, &bot, |b| b.starts_with("queued #1"))
        .await;
    clock.advance(chrono::Duration::minutes(121));
    run.bot.scheduler().tick().await;
    let first = bob
        .wait_for(&room_id, &bot, |b| {
            b.starts_with("deploy window hotfix starts now")
        })
        .await;
    assert!(
        body(&first).ends_with("deployers: alice, bob"),
        "{}",
        body(&first)
    );
    let mut want = vec![alice_id.clone(), bob_id.clone()];
    want.sort();
    assert_eq!(mentioned(&first), want);
    let second = bob
        .wait_for(&room_id, &bot, |b| b.contains("up in hotfix"))
        .await;
    assert!(
        body(&second).starts_with("bob: your patches"),
        "{}",
        body(&second)
    );
    assert_eq!(mentioned(&second), [bob_id]);
}

/// The console's abuse checks (`abuse.rs`) through Synapse: a body just
/// under Synapse's 64 KiB event limit and ten thousand words are refused
/// with a short reply; nothing changes and the next command runs.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn absurd_bodies_up_to_synapses_limit_are_refused_cleanly() {
    let mut s = scene().await;
    let room = s.room(false).await;
    let events = s.run.bot.ledger.events().expect("events").len();
    let big = format!("!tree close autoland {} #infra", "x".repeat(60_000));
    let words = format!("!tree close autoland {}#infra", "w ".repeat(10_000));
    for (text, quoted) in [(&big, "xxxxxxxx"), (&words, "w w w w")] {
        s.alice.say(&room, text).await;
        let refusal = s
            .alice
            .wait_for(&room, &s.bot, |b| {
                b.contains("message too long") && b.contains(quoted)
            })
            .await;
        assert!(body(&refusal).len() < 300, "{}", body(&refusal));
    }
    s.alice.say(&room, "!ping").await;
    s.alice.wait_for(&room, &s.bot, |b| b == "pong").await;
    assert_eq!(s.run.bot.ledger.events().expect("events").len(), events);
    assert_eq!(tree_status(&s.run.bot, "autoland"), Status::Open);
}

/// Synapse answers 429 when the bot sends faster than its limit (lowered
/// for the bot alone through the admin API: 1 message/s, burst 1): the
/// bot waits as told and every announcement still arrives, once, in order.
/// A 429 treated as a refusal would drop them (4xx is `Rejected`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_real_429_is_waited_out_and_nothing_is_lost() {
    let hs = Homeserver::start();
    hs.register("signalbox");
    hs.register_admin("ops");
    let bot = bot_id(&hs);
    let ops = User::new(&hs, "ops").await;
    let token = ops.client.access_token().expect("ops is logged in");
    let limited = reqwest::Client::new()
        .post(format!(
            "{}/_synapse/admin/v1/users/{bot}/override_ratelimit",
            hs.url()
        ))
        .bearer_auth(token)
        .header("content-type", "application/json")
        .body(r#"{"messages_per_second": 1, "burst_count": 1}"#)
        .send()
        .await
        .expect("the admin API answers");
    assert!(limited.status().is_success(), "{limited:?}");

    let mut alice = User::new(&hs, "alice").await;
    let room = alice.create_room(false, &[&bot]).await;
    let dir = tempfile::tempdir().expect("tempdir");
    let text = config_for(
        dir.path(),
        &hs,
        &format!("rooms = [\"{room}\"]"),
        Some(&room),
    );
    let run = start_bot(&text).await;
    alice.wait_joined(&room, &bot).await;
    let trees = ["autoland", "mozilla-central", "try"];
    for tree in trees {
        let reply = say(
            &run.bot,
            "alice",
            &format!("!tree close {tree} burst #infra"),
        )
        .await;
        assert!(reply.starts_with(&format!("closed {tree}")), "{reply}");
    }
    assert!(
        signalbox::outbox::drained(&run.bot.ledger, Network::Matrix, WAIT * 2).await,
        "every announcement was taken by Synapse"
    );
    let seen = alice.collect(&room, &bot, Duration::from_secs(3)).await;
    let announced: Vec<&str> = seen
        .iter()
        .map(body)
        .filter(|b| b.contains("burst"))
        .collect();
    assert_eq!(announced.len(), 3, "{announced:?}");
    for (tree, body) in trees.iter().zip(&announced) {
        assert!(body.contains(tree), "in order: {announced:?}");
    }
}

/// Exactly once across a crash in the window, on Synapse: `run` sends the
/// first of two queued announcements and is killed (`kill -9`) before the
/// outbox entry is removed. The restarted bot (same session, restored from
/// the data dir) sends it again with the same transaction id, which Synapse
/// answers with the event it already has: the room gets it once, then the
/// second announcement once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crash_between_send_and_removal_sends_nothing_twice() {
    let hs = Homeserver::start();
    hs.register("signalbox");
    let bot = bot_id(&hs);
    let mut alice = User::new(&hs, "alice").await;
    let room = alice.create_room(false, &[&bot]).await;
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("config.toml");
    let text = config_for(dir.path(), &hs, &format!("rooms = [\"{room}\"]"), None).replace(
        "trees = [\"console:#ops\"]",
        &format!("trees = [\"matrix:{room}\"]"),
    );
    std::fs::write(&path, text).expect("write config");
    queue_two_announcements(&path);
    let log = dir.path().join("bot.log");

    let first = BotProcess::start(&path, &log, &[HANG_AFTER_SEND]);
    alice
        .wait_for(&room, &bot, |b| b.contains("first-of-two"))
        .await;
    first.kill9();

    let _second = BotProcess::start(&path, &log, &[]);
    alice
        .wait_for(&room, &bot, |b| b.contains("second-of-two"))
        .await;
    // Delivery is in order, so a second copy of the first would have come
    // before the second announcement, in what alice has already synced.
    let rest = alice.collect(&room, &bot, Duration::ZERO).await;
    let bodies: Vec<&str> = rest.iter().map(body).collect();
    assert!(
        !bodies.iter().any(|b| b.contains("first-of-two")),
        "sent twice: {bodies:?}"
    );
}

/// What Synapse refuses for good comes back from `send` as `Rejected`, the
/// outcome every adapter gives it: a topic in a room where the bot lacks the
/// power level for `m.room.topic` (403), and a DM to a user the homeserver
/// does not have.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_topic_and_an_undeliverable_dm_are_rejected() {
    use signalbox::adapter::{Adapter as _, SendError};
    use signalbox::outbox::Destination;

    let hs = Homeserver::start();
    hs.register("signalbox");
    let bot_user = bot_id(&hs);
    let mut alice = User::new(&hs, "alice").await;
    // alice's room: the bot is invited with the default power level (0),
    // below what a topic needs (50).
    let room = alice.create_room(false, &[&bot_user]).await;
    let dir = tempfile::tempdir().expect("tempdir");
    let run = start_bot(&config_for(
        dir.path(),
        &hs,
        &format!("rooms = [\"{room}\"]"),
        None,
    ))
    .await;
    alice.wait_joined(&room, &bot_user).await;
    let topic = Destination::Topic(signalbox_commands::ChannelAddr::new(
        Network::Matrix,
        room.as_str(),
    ));
    match run.matrix.send(&topic, "autoland closed").await {
        Err(SendError::Rejected(why)) => assert!(why.contains("M_FORBIDDEN"), "{why}"),
        other => panic!("a refused topic is Rejected, got {other:?}"),
    }
    let nobody = format!("@nobody:{}", hs.server_name);
    let dm = Destination::Direct {
        network: Network::Matrix,
        user: signalbox_commands::PlatformUserId::new(&nobody),
    };
    match run.matrix.send(&dm, "your loaner is ready").await {
        Err(SendError::Rejected(why)) => assert!(why.contains(&nobody), "{why}"),
        other => panic!("a DM to a user the homeserver lacks is Rejected, got {other:?}"),
    }
}

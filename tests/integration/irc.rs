//! The IRC adapter on a real network: InspIRCd linked to Anope services on
//! loopback (scripts/irc-server), the bot in-process, real clients. Users
//! are identified by services account only; a nick is never trusted.

use std::sync::Arc;
use std::time::Duration;

use signalbox::Bot;
use signalbox::adapter::irc::Irc;
use signalbox::adapter::{self, Adapter, SendError};
use signalbox::clock::{Clock, ManualClock, SystemClock};
use signalbox::config::Config;
use signalbox::outbox::Destination;
use signalbox_commands::tree::Status;
use signalbox_commands::{ChannelAddr, Network as Net};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::common::{config_text, say, tree_status};
use crate::irc_client::{Client, Network, WAIT, privmsg, untagged};

const PASSWORD: &str = "correct-horse";

/// A running bot with its IRC adapter; stopped on drop.
struct Running {
    bot: Bot,
    irc: Arc<Irc>,
    shutdown: CancellationToken,
    _dir: tempfile::TempDir,
}

impl Drop for Running {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

/// The config for a bot on `port`; `irc_extra` goes into `[adapters.irc]`.
fn bot_config(dir: &std::path::Path, port: u16, irc_extra: &str) -> Config {
    let text = config_text(
        dir,
        &format!(
            r##"
[adapters.irc]
server = "127.0.0.1"
port = {port}
tls = false
nick = "signalbox"
alt_nicks = ["signalbox-2"]
channels = ["#releng", {{ name = "#keyed", key = "sekrit" }}, "#open", "#kick"]
{irc_extra}

[adapters.irc.sasl]
account = "signalbox"
password = "{PASSWORD}"
"##
        ),
    )
    .replace(
        "trees = [\"console:#ops\"]",
        "trees = [\"console:#ops\", \"irc:#releng\"]",
    )
    .replace(
        "status = [\"console:#ops\"]",
        "status = [\"console:#ops\", \"irc:#open\"]",
    );
    let mut config =
        Config::from_text(&text, "irc-test.toml", &Default::default(), None).expect("valid config");
    // The burst tests flood from one client on purpose; the per-person
    // command limit has its own tests (abuse.rs).
    config.bot.rate_limit_burst = 0;
    config
}

async fn start_bot(port: u16, irc_extra: &str) -> Running {
    start_bot_on(port, irc_extra, Arc::new(SystemClock)).await
}

/// [`start_bot`] on `clock`, with window announcements in #releng too.
async fn start_bot_on(port: u16, irc_extra: &str, clock: Arc<dyn Clock>) -> Running {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut config = bot_config(dir.path(), port, irc_extra);
    config
        .announce
        .windows
        .push(ChannelAddr::new(Net::Irc, "#releng"));
    let irc_config = config.adapters.irc.clone().expect("irc configured");
    let bot = Bot::open(config, clock).await.expect("bot opens");
    let irc = Arc::new(
        Irc::new(
            irc_config,
            Some(bot.health.clone()),
            "http://127.0.0.1:8080/".to_string(),
        )
        .with_pages(bot.pages.clone()),
    );
    let shutdown = CancellationToken::new();
    bot.deliver(irc.clone(), &shutdown);
    tokio::spawn(adapter::supervise(
        irc.clone(),
        bot.router.clone(),
        bot.health.clone(),
        shutdown.clone(),
    ));
    assert!(
        irc.joined_all(WAIT).await,
        "the bot joined #releng, #keyed (with its key), #open and #kick"
    );
    Running {
        bot,
        irc,
        shutdown,
        _dir: dir,
    }
}

/// A network with NickServ accounts for the bot, alice and bob.
async fn network() -> Network {
    let net = Network::start();
    net.register("signalbox", PASSWORD).await;
    net.register("alice", PASSWORD).await;
    net
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn accounts_not_nicks_decide_who_may_change_state() {
    let net = network().await;
    let run = start_bot(net.port, "").await;

    // alice's account, on a nick that is not "alice".
    let mut ally = Client::connect(net.port, "ally", Some(("alice", PASSWORD))).await;
    ally.join("#releng").await;
    ally.send("PRIVMSG #releng :!tree close autoland builds failing #infra")
        .await;
    let confirm = ally
        .expect("the bot's confirmation", |l| {
            privmsg(l, "signalbox", "#releng").is_some_and(|t| t.starts_with("closed autoland"))
        })
        .await;
    assert!(confirm.contains("builds failing"), "{confirm}");
    assert_eq!(tree_status(&run.bot, "autoland"), Status::Closed);
    ally.send("PRIVMSG signalbox :whoami").await;
    let whoami = ally
        .expect("whoami by DM", |l| {
            privmsg(l, "signalbox", "ally").is_some()
        })
        .await;
    assert!(whoami.contains("you are alice"), "{whoami}");

    // Someone else takes the nick "alice" without the account.
    let mut fake = Client::connect(net.port, "alice", None).await;
    fake.join("#releng").await;
    let events = run.bot.ledger.events().expect("events").len();
    fake.send("PRIVMSG #releng :!tree open autoland").await;
    let refusal = fake
        .expect("the refusal", |l| {
            privmsg(l, "signalbox", "#releng").is_some_and(|t| t.contains("needs"))
        })
        .await;
    assert!(
        refusal.contains("needs role \"sheriff\"")
            && refusal.contains("\"nick:alice\" is not an identified person")
            && refusal.contains("an identified account is needed"),
        "{refusal}"
    );
    assert_eq!(tree_status(&run.bot, "autoland"), Status::Closed);
    assert_eq!(run.bot.ledger.events().expect("events").len(), events);

    // A guest can read.
    fake.send("PRIVMSG #releng :!tree status autoland").await;
    let status = fake
        .expect("tree status for a guest", |l| {
            privmsg(l, "signalbox", "#releng").is_some_and(|t| t.starts_with("autoland:"))
        })
        .await;
    assert!(status.contains("closed"), "{status}");

    // After alice logs in, the same nick is trusted because of the account
    // (account-notify / the account tag), not because of the name.
    fake.send(&format!("PRIVMSG NickServ :IDENTIFY {PASSWORD}"))
        .await;
    fake.expect("login", |l| l.contains(" 900 ")).await;
    fake.send("PRIVMSG #releng :!tree open autoland").await;
    fake.expect("opened", |l| {
        privmsg(l, "signalbox", "#releng").is_some_and(|t| t.starts_with("opened autoland"))
    })
    .await;
    assert_eq!(tree_status(&run.bot, "autoland"), Status::Open);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn output_is_one_harmless_line_per_message_and_never_over_512_bytes() {
    let net = network().await;
    let run = start_bot(net.port, "max_lines = 0").await;
    let mut watcher = Client::connect(net.port, "watcher", None).await;
    watcher.join("#releng").await;
    let releng = Destination::Channel(ChannelAddr::new(Net::Irc, "#releng"));

    run.irc
        .send(
            &releng,
            "closed autoland: evil\r\nQUIT :pwned\r\nJOIN #elsewhere\0x",
        )
        .await
        .expect("sent");
    let line = watcher
        .expect("the injected text", |l| {
            privmsg(l, "signalbox", "#releng").is_some()
        })
        .await;
    assert_eq!(
        privmsg(&line, "signalbox", "#releng"),
        Some("closed autoland: evil QUIT :pwned JOIN #elsewhere x")
    );

    // 5 KB of multi-byte text as one line: split on character boundaries.
    let word = "zażółć gęślą jaźń ✓ ";
    let long: String = word.repeat(5 * 1024 / word.len() + 1);
    run.irc.send(&releng, &long).await.expect("sent");
    run.irc
        .send(&releng, "end of long text")
        .await
        .expect("sent");
    let mut got = String::new();
    loop {
        let line = watcher
            .expect("a piece", |l| privmsg(l, "signalbox", "#releng").is_some())
            .await;
        assert!(
            untagged(&line).len() + 2 <= 512,
            "{} bytes: {line}",
            untagged(&line).len() + 2
        );
        let text = privmsg(&line, "signalbox", "#releng").expect("privmsg");
        if text == "end of long text" {
            break;
        }
        got.push_str(text);
        got.push(' ');
    }
    let squash = |s: &str| s.split_whitespace().collect::<Vec<_>>().join(" ");
    assert_eq!(
        squash(&got),
        squash(&long),
        "every character arrived, in order"
    );
    assert!(run.irc.is_connected(), "nothing ended the bot's connection");
    drop(run);

    // With the default fold: the first lines, then a link.
    let run = start_bot(net.port, "").await;
    let nick = run.irc.nick();
    run.irc.send(&releng, &long).await.expect("sent");
    let mut lines = Vec::new();
    while lines.len() < 5 {
        let line = watcher
            .expect("a folded line", |l| privmsg(l, &nick, "#releng").is_some())
            .await;
        assert!(untagged(&line).len() + 2 <= 512, "{line}");
        lines.push(
            privmsg(&line, &nick, "#releng")
                .expect("privmsg")
                .to_string(),
        );
    }
    assert!(
        lines[4].starts_with("… ") && lines[4].contains("more lines: http://127.0.0.1:8080/r/"),
        "{lines:?}"
    );
    let extra = watcher.collect(Duration::from_millis(500)).await;
    assert!(
        !extra.iter().any(|l| privmsg(l, &nick, "#releng").is_some()),
        "folded to 5 lines: {extra:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reconnects_after_the_server_dies_and_delivers_queued_announcements_once() {
    let net = network().await;
    let run = start_bot(net.port, "").await;
    net.kill_ircd();
    let deadline = Instant::now() + WAIT;
    while run.irc.is_connected() {
        assert!(Instant::now() < deadline, "the bot noticed the server died");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    // State changes while the network is gone queue announcements.
    let changes = [
        "!tree close autoland outage one #infra",
        "!tree close try outage two #infra",
        "!tree open autoland back again",
    ];
    for c in changes {
        let reply = say(&run.bot, "alice", c).await;
        assert!(!reply.contains("needs"), "{reply}");
    }
    net.restart_ircd();
    let back = Instant::now();
    assert!(
        run.irc.joined_all(Duration::from_secs(5)).await,
        "back in every channel within 5 s of the server's return"
    );
    eprintln!(
        "irc: rejoined {:?} after the server was back",
        back.elapsed()
    );

    // #releng keeps history (+H), so the watcher sees what was said before it
    // joined as well as after.
    let mut watcher = Client::connect(net.port, "watcher", None).await;
    watcher.join("#releng").await;
    let lines = watcher.collect(Duration::from_secs(3)).await;
    let nick = run.irc.nick();
    let said: Vec<&str> = watcher
        .seen
        .iter()
        .filter_map(|l| privmsg(l, &nick, "#releng"))
        .collect();
    for (text, want) in [
        ("alice closed autoland: outage one", 1),
        ("alice closed try: outage two", 1),
        ("alice opened autoland", 1),
    ] {
        let n = said.iter().filter(|s| s.starts_with(text)).count();
        assert_eq!(n, want, "{text:?} in {said:?} ({} lines)", lines.len());
    }
    let left: Vec<String> = run
        .bot
        .ledger
        .export()
        .expect("export")
        .outbox
        .into_iter()
        .filter(|e| e.to.network() == Net::Irc)
        .map(|e| e.text)
        .collect();
    assert!(left.is_empty(), "nothing left to deliver: {left:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_burst_of_200_pings_all_get_pong_without_a_budget() {
    let net = network().await;
    let run = start_bot(net.port, "[adapters.irc.budget]\nenabled = false").await;
    let mut client = Client::connect(net.port, "pinger", None).await;
    client.join("#releng").await;
    let burst: String = (0..200).map(|_| "PRIVMSG #releng :!ping\r\n").collect();
    client.send(burst.trim_end()).await;
    let mut pongs = 0;
    let deadline = Instant::now() + Duration::from_secs(60);
    while pongs < 200 {
        let Some(line) = client.next_line(deadline).await else {
            panic!("only {pongs} pongs");
        };
        if privmsg(&line, "signalbox", "#releng") == Some("pong") {
            pongs += 1;
        }
    }
    assert!(run.irc.is_connected());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_default_budget_keeps_the_bot_from_being_killed_for_flooding() {
    let net = network().await;
    // Control: without a budget the strict class kills the bot.
    let unpaced = start_bot(net.strict_port, "[adapters.irc.budget]\nenabled = false").await;
    let mut client = Client::connect(net.port, "pinger", None).await;
    client.join("#releng").await;
    let burst: String = (0..60).map(|_| "PRIVMSG #releng :!ping\r\n").collect();
    client.send(burst.trim_end()).await;
    client
        .expect("the unpaced bot killed for flooding", |l| {
            l.contains("QUIT") && l.contains("Excess Flood") && l.contains(":signalbox")
        })
        .await;
    drop(unpaced);

    let paced = start_bot(net.strict_port, "").await;
    let nick = paced.irc.nick();
    let start = Instant::now();
    client.send(burst.trim_end()).await;
    let lines = client.collect(Duration::from_secs(8)).await;
    let elapsed = start.elapsed().as_secs_f64();
    let pongs = lines
        .iter()
        .filter(|l| privmsg(l, &nick, "#releng") == Some("pong"))
        .count();
    assert!(
        !lines.iter().any(|l| l.contains("Excess Flood")),
        "not killed: {lines:?}"
    );
    assert!(paced.irc.is_connected());
    // Default budget: a burst of 5, then 1 line/s.
    assert!(
        pongs >= 5 && pongs as f64 <= 5.0 + elapsed + 1.0,
        "{pongs} pongs in {elapsed:.1} s"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn topics_are_set_where_allowed_and_refused_with_a_reason() {
    let net = network().await;
    let run = start_bot(net.port, "").await;
    let mut watcher = Client::connect(net.port, "watcher", None).await;
    watcher.join("#open").await;
    run.irc
        .set_topic("#open", "trees: autoland closed\r\nQUIT")
        .await
        .expect("#open has no topic lock");
    watcher
        .expect("the new topic", |l| {
            l.contains("TOPIC #open :trees: autoland closed QUIT")
        })
        .await;
    let err = run
        .irc
        .set_topic("#releng", "x")
        .await
        .expect_err("#releng is +t and the bot has no ops");
    assert!(
        err.to_string().contains("needs channel operator status"),
        "{err}"
    );
    // Through the outbox's door, a refused topic and a DM nobody can get are
    // refusals for good, as on every network: dropped, not retried.
    let releng = ChannelAddr::new(Net::Irc, "#releng");
    match run.irc.send(&Destination::Topic(releng), "x").await {
        Err(SendError::Rejected(why)) => {
            assert!(why.contains("needs channel operator status"), "{why}")
        }
        other => panic!("a refused topic is Rejected, got {other:?}"),
    }
    let away = Destination::Direct {
        network: Net::Irc,
        user: signalbox_commands::PlatformUserId::new("nobody-here"),
    };
    match run.irc.send(&away, "psst").await {
        Err(SendError::Rejected(why)) => assert!(why.contains("nobody is logged in"), "{why}"),
        other => panic!("a DM to an account nobody uses is Rejected, got {other:?}"),
    }
}

/// Output over `max_lines` is cut, with a link to a page that shows that
/// very text in full.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn long_output_links_to_a_page_with_the_whole_text() {
    let net = network().await;
    let run = start_bot(net.port, "max_lines = 4").await;
    let (addr, shutdown) = crate::common::serve(&run.bot).await;
    let mut client = Client::connect(net.port, "reader", None).await;
    client.join("#releng").await;
    client.send("PRIVMSG #releng :!help").await;
    let nick = run.irc.nick();
    let fold = client
        .expect("the fold line", |l| {
            privmsg(l, &nick, "#releng").is_some_and(|t| t.contains(" more lines: "))
        })
        .await;
    let said: Vec<String> = client
        .seen
        .iter()
        .filter_map(|l| privmsg(l, &nick, "#releng"))
        .map(str::to_string)
        .collect();
    assert_eq!(said.len(), 4, "three lines and the fold: {said:#?}");
    let url = fold
        .rsplit(' ')
        .next()
        .expect("the link ends the fold line")
        .to_string();
    let path = url
        .strip_prefix("http://127.0.0.1:8080")
        .expect("the link is under the HTTP server's address");
    assert!(path.starts_with("/r/"), "{url}");
    let path = path.to_string();
    let (code, body) = tokio::task::spawn_blocking(move || crate::common::http(addr, "GET", &path))
        .await
        .expect("join");
    assert_eq!(code, 200, "{body}");
    let whole = say(&run.bot, "alice", "!help").await;
    assert_eq!(body.trim_end(), whole, "the page is that very reply");
    for line in &said[..3] {
        assert!(body.contains(line.as_str()), "{line:?} is on the page");
    }
    assert!(
        !said.iter().any(|l| l.contains("!ack")) && body.contains("!ack"),
        "the page has what the channel did not get"
    );
    let (code, body) =
        tokio::task::spawn_blocking(move || crate::common::http(addr, "GET", "/r/nope"))
            .await
            .expect("join");
    assert_eq!(code, 404);
    assert!(
        body.contains("page \"nope\" is unknown or expired"),
        "{body}"
    );
    shutdown.cancel();
}

/// A topic change asked for while the network is down is set once the bot
/// is back in the channel, not dropped.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_topic_set_while_the_network_is_down_is_set_when_it_returns() {
    let net = network().await;
    let run = start_bot(net.port, "").await;
    net.kill_ircd();
    let deadline = Instant::now() + WAIT;
    while run.irc.is_connected() {
        assert!(Instant::now() < deadline, "the bot noticed the server died");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let reply = say(&run.bot, "alice", "!status alert CI is down").await;
    assert!(reply.starts_with("alert posted"), "{reply}");
    net.restart_ircd();
    assert!(
        run.irc.joined_all(WAIT).await,
        "back in every channel after the server's return"
    );
    let mut watcher = Client::connect(net.port, "watcher", None).await;
    watcher.send("JOIN #open").await;
    // Either the topic is there when the watcher joins (332), or the bot
    // sets it just after. (The topic is queued before the alert's message,
    // so a dropped topic is not hidden by the message's own retry.)
    watcher
        .expect("the alert as #open's topic", |l| {
            l.contains("ALERT: CI is down") && (l.contains(" 332 ") || l.contains("TOPIC #open"))
        })
        .await;
    crate::common::eventually("the topic removed from the outbox", || {
        run.bot
            .ledger
            .export()
            .expect("export")
            .outbox
            .iter()
            .all(|e| e.to.network() != Net::Irc)
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rejoins_after_a_kick() {
    let net = network().await;
    // The first in #kick holds ops there.
    let mut op = Client::connect(net.port, "chanop", None).await;
    op.join("#kick").await;
    let run = start_bot(net.port, "").await;
    let nick = run.irc.nick();
    op.send(&format!("KICK #kick {nick} :out")).await;
    op.expect("the kick", |l| l.contains(&format!("KICK #kick {nick}")))
        .await;
    op.expect("the bot back in #kick", |l| {
        untagged(l).starts_with(&format!(":{nick}!")) && l.contains("JOIN")
    })
    .await;
    assert!(run.irc.joined_all(WAIT).await);
    assert!(run.irc.is_joined("#kick"));
}

/// Security is alice's; alice and bob take turns on CI duty.
const MENTIONS_EXTRA: &str = r#"
[[rotations]]
name = "ciduty"
members = ["alice", "bob"]
shift = "1w"
start = "2026-01-05 09:00"
timezone = "UTC"
channels = ["console:#ops"]
grants = ["ciduty"]
[liaisons]
security = ["alice"]
"#;

/// The words of an IRC line, split as a client splits them to highlight.
fn words(text: &str) -> Vec<&str> {
    text.split(|c: char| c.is_whitespace() || ",:;()".contains(c))
        .filter(|w| !w.is_empty())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pings_are_the_live_nick_of_the_account_and_live_nicks_name_people() {
    let net = network().await;
    net.register("bob", PASSWORD).await;
    let now = SystemClock::current();
    let clock = Arc::new(ManualClock::new(now));
    let run = start_bot_on(net.port, MENTIONS_EXTRA, clock.clone() as Arc<dyn Clock>).await;

    // alice is logged in on the nick alice_w; a guest holds the nick alice.
    let mut alice = Client::connect(net.port, "alice_w", Some(("alice", PASSWORD))).await;
    alice.join("#releng").await;
    let mut guest = Client::connect(net.port, "alice", None).await;
    guest.join("#releng").await;
    let mut bob = Client::connect(net.port, "bob", Some(("bob", PASSWORD))).await;
    bob.join("#releng").await;

    bob.send("PRIVMSG #releng :!escalate security disk full")
        .await;
    let line = bob
        .expect("the escalation call", |l| {
            privmsg(l, "signalbox", "#releng").is_some_and(|t| t.contains("from bob: disk full"))
        })
        .await;
    let call = privmsg(&line, "signalbox", "#releng").expect("privmsg");
    assert!(
        call.starts_with("alice_w: escalation #1 (security)"),
        "{call}"
    );
    assert!(
        !words(call).contains(&"alice"),
        "the guest is not pinged: {call}"
    );

    // An admin names alice by her live nick; the guest's nick is not her.
    let from = (now + chrono::Duration::days(1))
        .format("%Y-%m-%d")
        .to_string();
    let until = (now + chrono::Duration::days(2))
        .format("%Y-%m-%d")
        .to_string();
    alice
        .send(&format!(
            "PRIVMSG #releng :!oncall override ciduty alice_w {from} {until}"
        ))
        .await;
    let line = alice
        .expect("the override reply", |l| {
            privmsg(l, "signalbox", "#releng").is_some_and(|t| t.contains("override"))
        })
        .await;
    let state = run.bot.ledger.state();
    let overrides = format!("{:?}", state.duty.overrides);
    assert!(
        overrides.contains("\"alice\""),
        "alice_w named alice: {line} {overrides}"
    );
    guest
        .send(&format!(
            "PRIVMSG #releng :!oncall override ciduty alice {from} {until}"
        ))
        .await;
    let line = guest
        .expect("the guest's refusal", |l| {
            privmsg(l, "signalbox", "#releng").is_some_and(|t| t.contains("nick:alice"))
        })
        .await;
    assert!(line.contains("not an identified person"), "{line}");
    alice
        .send("PRIVMSG #releng :!role set security carol_x")
        .await;
    let line = alice
        .expect("an unknown nick refused", |l| {
            privmsg(l, "signalbox", "#releng").is_some_and(|t| t.contains("carol_x"))
        })
        .await;
    assert!(line.contains("person \"carol_x\" is unknown"), "{line}");

    // A window start pings its deployers, then the owners of its patches,
    // each by the nick they use now.
    let start = (now + chrono::Duration::hours(2))
        .format("%Y-%m-%dT%H:%M")
        .to_string();
    alice
        .send(&format!(
            "PRIVMSG #releng :!window add hotfix {start} 1h alice_w bob"
        ))
        .await;
    alice
        .expect("the window added", |l| {
            privmsg(l, "signalbox", "#releng").is_some_and(|t| t.contains("added window hotfix"))
        })
        .await;
    bob.send("PRIVMSG #releng :!window join hotfix 1234").await;
    bob.expect("the patch queued", |l| {
        privmsg(l, "signalbox", "#releng").is_some_and(|t| t.starts_with("queued #1"))
    })
    .await;
    clock.advance(chrono::Duration::minutes(121));
    run.bot.scheduler().tick().await;
    let line = bob
        .expect("the window start", |l| {
            privmsg(l, "signalbox", "#releng")
                .is_some_and(|t| t.starts_with("deploy window hotfix starts now"))
        })
        .await;
    let first = privmsg(&line, "signalbox", "#releng").expect("privmsg");
    assert!(first.ends_with("deployers: alice_w, bob"), "{first}");
    let line = bob
        .expect("the owners' ping", |l| {
            privmsg(l, "signalbox", "#releng").is_some_and(|t| t.contains("up in hotfix"))
        })
        .await;
    let second = privmsg(&line, "signalbox", "#releng").expect("privmsg");
    assert!(
        second.starts_with("bob: your patches are up in hotfix"),
        "{second}"
    );
    assert!(!words(first).contains(&"alice") && !words(second).contains(&"alice"));
}

/// Bytes that are not UTF-8, sent raw to the real server by alice (logged
/// in): the adapter decodes them with U+FFFD in their place, and the core
/// refuses such text as the console refuses bytes that are not UTF-8 —
/// nothing runs, the reply says why, and the connection serves the next
/// command. (A megabyte or ten thousand words cannot reach the bot on IRC:
/// the server cuts every line at 512 bytes.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bytes_that_are_not_utf8_are_refused_and_the_next_command_runs() {
    let net = network().await;
    let run = start_bot(net.port, "").await;
    let nick = run.irc.nick();
    let events = run.bot.ledger.events().expect("events").len();
    let mut alice = Client::connect(net.port, "alice", Some(("alice", PASSWORD))).await;
    alice.join("#releng").await;
    alice
        .send_bytes(b"PRIVMSG #releng :!tree close autoland \xff\xfe bustage #infra")
        .await;
    let refusal = alice
        .expect("the refusal", |l| privmsg(l, &nick, "#releng").is_some())
        .await;
    let text = privmsg(&refusal, &nick, "#releng").expect("privmsg");
    assert!(text.contains("not valid UTF-8"), "{text}");
    alice.send("PRIVMSG #releng :!ping").await;
    let pong = alice
        .expect("pong", |l| privmsg(l, &nick, "#releng").is_some())
        .await;
    assert!(
        privmsg(&pong, &nick, "#releng")
            .expect("privmsg")
            .contains("pong"),
        "{pong}"
    );
    assert_eq!(run.bot.ledger.events().expect("events").len(), events);
    assert!(run.irc.is_connected());
}

//! Reply latency and throughput of the IRC adapter on a real network
//! (InspIRCd + Anope on loopback, started by scripts/irc-server), next to
//! the server's own floor measured the same way: a client messaging itself
//! through the server. Run with `cargo bench --bench irc`.
//!
//! Sequential: one `ping` by DM, wait for `pong`, repeat; p50/p99 of the
//! round trip. Burst: 200 `ping`s written at once; replies/s until the last
//! `pong`. The bot runs with its outbound budget disabled, so the numbers are
//! the adapter's and the router's, not the pacing's.
//!
//! The same for a durable state change (`status log TEXT`, one event written
//! and flushed through the ledger per command) by an identified account, and
//! at the end the peak RSS of this process (bot with every adapter compiled
//! in, plus the small load client).

#[allow(dead_code)]
#[path = "../tests/integration/irc_client.rs"]
mod irc_client;

use std::sync::Arc;
use std::time::Duration;

use irc_client::{Client, Network, privmsg};
use signalbox::Bot;
use signalbox::adapter::{self, irc::Irc};
use signalbox::clock::{Clock, SystemClock};
use signalbox::config::Config;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

const SEQUENTIAL: usize = 300;
const BURST: usize = 200;
const PASSWORD: &str = "correct-horse";

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

/// Sends `request` to `target` and waits for a PRIVMSG from `from` whose
/// text is `reply`; returns the sequential latencies and the burst rate.
async fn measure(
    client: &mut Client,
    target: &str,
    request: &str,
    from: &str,
    reply: &str,
) -> (Vec<Duration>, f64) {
    let me = client.nick.clone();
    let mut latencies = Vec::with_capacity(SEQUENTIAL);
    for i in 0..SEQUENTIAL + 20 {
        let start = Instant::now();
        client.send(&format!("PRIVMSG {target} :{request}")).await;
        wait(client, &me, from, reply, start + Duration::from_secs(10)).await;
        if i >= 20 {
            latencies.push(start.elapsed());
        }
    }
    latencies.sort();
    let burst: String = (0..BURST)
        .map(|_| format!("PRIVMSG {target} :{request}\r\n"))
        .collect();
    let start = Instant::now();
    client.send(burst.trim_end()).await;
    for _ in 0..BURST {
        wait(client, &me, from, reply, start + Duration::from_secs(60)).await;
    }
    let rate = BURST as f64 / start.elapsed().as_secs_f64();
    (latencies, rate)
}

/// Reads until a PRIVMSG from `from` to `me` says `reply`.
async fn wait(client: &mut Client, me: &str, from: &str, reply: &str, deadline: Instant) {
    while let Some(line) = client.next_line(deadline).await {
        if privmsg(&line, from, me) == Some(reply) {
            return;
        }
    }
    panic!("no {reply:?} from {from}");
}

fn report(name: &str, latencies: &[Duration], rate: f64) {
    println!(
        "{name:<28} p50 {:>8.3} ms   p99 {:>8.3} ms   burst of {BURST}: {:>8.0} replies/s",
        percentile(latencies, 0.5).as_secs_f64() * 1e3,
        percentile(latencies, 0.99).as_secs_f64() * 1e3,
        rate
    );
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let net = Network::start();
    net.register("signalbox", PASSWORD).await;
    net.register("loader", PASSWORD).await;

    let dir = tempfile::tempdir().expect("tempdir");
    let text = format!(
        r##"[bot]
data_dir = {data:?}
rate_limit_burst = 0
[http]
enabled = false
[people.loader]
roles = ["admin"]
irc = "loader"
[adapters.irc]
server = "127.0.0.1"
port = {port}
tls = false
nick = "signalbox"
channels = ["#releng"]
[adapters.irc.sasl]
account = "signalbox"
password = "{PASSWORD}"
[adapters.irc.budget]
enabled = false
"##,
        data = dir.path().join("data").display().to_string(),
        port = net.port,
    );
    let config =
        Config::from_text(&text, "bench.toml", &Default::default(), None).expect("bench config");
    let irc_config = config.adapters.irc.clone().expect("irc configured");
    let bot = Bot::open(config, Arc::new(SystemClock) as Arc<dyn Clock>)
        .await
        .expect("bot opens");
    let irc = Arc::new(Irc::new(irc_config, None, "http://127.0.0.1/".into()));
    let shutdown = CancellationToken::new();
    tokio::spawn(adapter::supervise(
        irc.clone(),
        bot.router.clone(),
        bot.health.clone(),
        shutdown.clone(),
    ));
    assert!(irc.joined_all(Duration::from_secs(20)).await, "bot joined");

    let mut client = Client::connect(net.port, "loader", Some(("loader", PASSWORD))).await;
    let (floor, floor_rate) = measure(&mut client, "loader", "echo", "loader", "echo").await;
    let (bot_lat, bot_rate) = measure(&mut client, "signalbox", "ping", "signalbox", "pong").await;
    let events_before = bot.ledger.events().expect("events").len();
    let (log_lat, log_rate) = measure(
        &mut client,
        "signalbox",
        "status log bench entry",
        "signalbox",
        "logged: bench entry",
    )
    .await;
    let written = bot.ledger.events().expect("events").len() - events_before;
    assert_eq!(
        written,
        SEQUENTIAL + 20 + BURST,
        "one durable event per command"
    );
    println!("irc on loopback, {SEQUENTIAL} sequential round trips, then a burst of {BURST}:");
    report("server echo (floor)", &floor, floor_rate);
    report("bot ping -> pong", &bot_lat, bot_rate);
    report("bot status log (durable)", &log_lat, log_rate);
    println!("peak RSS of the bench process: {}", peak_rss());
    shutdown.cancel();
}

/// VmHWM of this process, as /proc reports it.
fn peak_rss() -> String {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .map(|l| l.trim_start_matches("VmHWM:").trim().to_string())
        })
        .unwrap_or_else(|| "unknown (no /proc/self/status)".to_string())
}

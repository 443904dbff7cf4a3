//! Reply latency of the Matrix adapter on a real Synapse (loopback, SQLite,
//! started by scripts/matrix-server), next to the homeserver's own floor
//! measured the same way: an echo client (a second user on matrix-sdk that
//! syncs and says back what it reads). Run with `cargo bench --bench matrix`.
//!
//! Each round: alice says a line in an unencrypted room and waits, by her
//! own sync, for the answer. The floor is the echo client's answer; the bot
//! answers `!ping` (nothing written) and `!status log …` (one event flushed
//! through the ledger). p50/p99 over sequential rounds, the three kinds
//! interleaved.

#[allow(dead_code)]
#[path = "../tests/integration/matrix_client.rs"]
mod matrix_client;

use std::sync::Arc;
use std::time::Duration;

use matrix_client::{Homeserver, PASSWORD, User, body, start_adapter};
use signalbox::Bot;
use signalbox::clock::{Clock, SystemClock};
use signalbox::config::Config;
use tokio::time::Instant;

const ROUNDS: usize = 60;

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

fn config(dir: &std::path::Path, hs: &Homeserver) -> Config {
    let server = &hs.server_name;
    let text = format!(
        r#"
[bot]
data_dir = "{data}"
rate_limit_burst = 0

[http]
listen = "127.0.0.1:0"

[people.alice]
roles = ["admin"]
matrix = "@alice:{server}"

[adapters.matrix]
homeserver = "{url}"
user = "@signalbox:{server}"
password = "{PASSWORD}"
"#,
        data = dir.join("data").display(),
        url = hs.url(),
    );
    Config::from_text(&text, "bench.toml", &Default::default(), None).expect("bench config")
}

/// Says `text` (made unique by `n`) and waits for an answer from `from`
/// containing `marker`; the round trip.
async fn round(
    alice: &mut User,
    room: &matrix_sdk::ruma::RoomId,
    from: &matrix_sdk::ruma::UserId,
    text: &str,
    marker: &str,
) -> Duration {
    let started = Instant::now();
    alice.say(room, text).await;
    alice.wait_for(room, from, |b| b.contains(marker)).await;
    started.elapsed()
}

fn report(name: &str, mut samples: Vec<Duration>) -> Duration {
    samples.sort();
    let p50 = percentile(&samples, 0.5);
    println!(
        "{name:<28} p50 {:>7.1} ms   p99 {:>7.1} ms   ({} rounds)",
        p50.as_secs_f64() * 1e3,
        percentile(&samples, 0.99).as_secs_f64() * 1e3,
        samples.len()
    );
    p50
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let hs = Homeserver::start();
    hs.register("signalbox");
    let bot_id = hs.user_id("signalbox");
    let mut alice = User::new(&hs, "alice").await;
    let mut echo = User::new(&hs, "echo").await;
    let dir = tempfile::tempdir().expect("tempdir");
    let config = config(dir.path(), &hs);
    let bot = Bot::open(config, Arc::new(SystemClock) as Arc<dyn Clock>)
        .await
        .expect("bot");
    let (_, shutdown) = start_adapter(&bot);

    let echo_id = echo.id.clone();
    let alice_id = alice.id.clone();
    let room = alice.create_room(false, &[&bot_id, &echo_id]).await;
    echo.join(&room).await;
    alice.wait_joined(&room, &bot_id).await;
    alice.wait_joined(&room, &echo_id).await;

    // The echo client answers every "echo N" with "echoed N".
    let echo_room = room.clone();
    let echoer = tokio::spawn(async move {
        for _ in 0..ROUNDS {
            let m = echo
                .wait_for(&echo_room, &alice_id, |b| b.starts_with("echo "))
                .await;
            let answer = body(&m).replacen("echo ", "echoed ", 1);
            echo.say(&echo_room, &answer).await;
        }
    });

    // The three kinds take turns within each round, so a slow spell of the
    // homeserver (its caches warming, a checkpoint of its SQLite) falls on
    // all of them alike rather than on whichever ran at that moment.
    println!("Matrix on Synapse (loopback, SQLite), sequential rounds, interleaved:");
    let (mut floor, mut ping, mut log) = (Vec::new(), Vec::new(), Vec::new());
    for n in 0..ROUNDS {
        let echo_text = format!("echo {n}");
        let echoed = format!("echoed {n}");
        floor.push(round(&mut alice, &room, &echo_id, &echo_text, &echoed).await);
        ping.push(round(&mut alice, &room, &bot_id, "!ping", "pong").await);
        let text = format!("!status log bench-{n}");
        log.push(round(&mut alice, &room, &bot_id, &text, &format!("bench-{n}")).await);
    }
    echoer.await.expect("echo client");
    let floor = report("synapse echo floor", floor);
    let ping = report("bot !ping", ping);
    let log = report("bot !status log (durable)", log);
    println!(
        "bot over the floor (p50): ping {:+.1} ms, status log {:+.1} ms",
        (ping.as_secs_f64() - floor.as_secs_f64()) * 1e3,
        (log.as_secs_f64() - floor.as_secs_f64()) * 1e3
    );
    shutdown.cancel();
}

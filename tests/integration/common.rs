//! Shared helpers: configs in temp dirs, an in-process bot, the binary, and a
//! tiny HTTP client (one request per connection) for loopback servers.

use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use signalbox::Bot;
use signalbox::clock::{Clock, ManualClock};
use signalbox::config::Config;
use signalbox::router::Inbound;
use signalbox_commands::{ChannelAddr, Network, PlatformUserId};

pub const EXAMPLE: &str = include_str!("../../config.toml.example");

/// The shipped example config with its data dir moved into `dir`, HTTP on
/// an ephemeral port, and `extra` TOML appended. The example's rotations
/// (and the liaisons that point at them) are left out: the families' tests
/// count events and scheduler firings, which shift changes would add to;
/// the shifts tests (`oncall.rs`) bring their own rotations.
pub fn config_text(dir: &Path, extra: &str) -> String {
    let data = dir.join("data");
    let start = EXAMPLE
        .find("# Rotations:")
        .expect("the example documents rotations");
    let end = EXAMPLE
        .find("# Standing channel topics")
        .expect("the example documents topics");
    let example = format!("{}{}", &EXAMPLE[..start], &EXAMPLE[end..]);
    example
        .replace(
            "data_dir = \"./data\"",
            &format!("data_dir = {:?}", data.display().to_string()),
        )
        .replace("listen = \"127.0.0.1:8080\"", "listen = \"127.0.0.1:0\"")
        + extra
}

pub fn write_config(dir: &Path, extra: &str) -> PathBuf {
    let path = dir.join("config.toml");
    std::fs::write(&path, config_text(dir, extra)).expect("write config");
    path
}

pub fn config(dir: &Path, extra: &str) -> Config {
    config_env(dir, extra, &[])
}

/// Like [`config`], with `SIGNALBOX__…` variables.
pub fn config_env(dir: &Path, extra: &str, env: &[(&str, &str)]) -> Config {
    let env: HashMap<String, String> = env
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    Config::from_text(&config_text(dir, extra), "test.toml", &env, None)
        .expect("test config is valid")
}

pub fn at(s: &str) -> DateTime<Utc> {
    s.parse().expect("test instant")
}

/// A bot in-process on a manual clock.
pub async fn bot(dir: &Path, extra: &str, clock: Arc<ManualClock>) -> Bot {
    Bot::open(config(dir, extra), clock as Arc<dyn Clock>)
        .await
        .expect("bot opens")
}

/// Says `text` in `console:#ops` as `person` and returns the reply.
pub async fn say(bot: &Bot, person: &str, text: &str) -> String {
    say_in(bot, person, "#ops", text).await
}

/// A tree's status in the bot's current state.
pub fn tree_status(bot: &Bot, tree: &str) -> signalbox_commands::tree::Status {
    bot.ledger
        .state()
        .trees
        .get(tree)
        .expect("tree exists")
        .condition
        .status
}

pub fn event_count(bot: &Bot) -> usize {
    bot.ledger.events().expect("events").len()
}

pub fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_signalbox")
}

/// One HTTP/1.1 request; returns status and body.
pub fn http(addr: SocketAddr, method: &str, path: &str) -> (u16, String) {
    let mut stream = TcpStream::connect_timeout(&addr, Duration::from_secs(5)).expect("connect");
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    write!(
        stream,
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )
    .expect("write");
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).expect("read");
    let text = String::from_utf8_lossy(&raw).to_string();
    let status = text
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .expect("status line");
    let (head, body) = text.split_once("\r\n\r\n").expect("head and body");
    let body = if head
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked")
    {
        dechunk(body)
    } else {
        body.to_string()
    };
    (status, body)
}

fn dechunk(mut body: &str) -> String {
    let mut out = String::new();
    while let Some((size, rest)) = body.split_once("\r\n") {
        let n = usize::from_str_radix(size.trim(), 16).expect("chunk size");
        if n == 0 {
            break;
        }
        out.push_str(&rest[..n]);
        body = &rest[n + 2..];
    }
    out
}

/// Polls `check` every 10 ms for up to 5 s.
pub async fn eventually(what: &str, mut check: impl FnMut() -> bool) {
    for _ in 0..500 {
        if check() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("timed out waiting for {what}");
}

/// Polls `check` every 20 ms for up to `limit` (for a process to start,
/// connect and deliver).
pub async fn within(what: &str, limit: Duration, mut check: impl FnMut() -> bool) {
    let tries = limit.as_millis() / 20;
    for _ in 0..tries {
        if check() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("timed out after {limit:?} waiting for {what}");
}

/// Says `text` in `channel` (e.g. `#releng`, on the console network) as
/// `person` and returns the reply.
pub async fn say_in(bot: &Bot, person: &str, channel: &str, text: &str) -> String {
    let msg = Inbound {
        network: Network::Console,
        channel: Some(ChannelAddr::new(Network::Console, channel)),
        user: PlatformUserId::new(person),
        text: text.to_string(),
        id: None,
        aliases: Vec::new(),
    };
    bot.router
        .dispatch(&msg)
        .await
        .expect("console lines are always addressed to the bot")
}

/// Serves the bot's HTTP API on an ephemeral loopback port until the token
/// is cancelled.
pub async fn serve(bot: &Bot) -> (SocketAddr, tokio_util::sync::CancellationToken) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind loopback");
    let addr = listener.local_addr().expect("local addr");
    let shutdown = tokio_util::sync::CancellationToken::new();
    tokio::spawn(signalbox::http::serve(
        listener,
        bot.http_state(),
        shutdown.clone(),
    ));
    (addr, shutdown)
}

/// The tests' user and group ids (from `/proc/self/status`).
pub fn ids() -> (u32, u32) {
    let status = std::fs::read_to_string("/proc/self/status").expect("/proc/self/status");
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|rest| rest.split_whitespace().next())
            .and_then(|id| id.parse().ok())
            .unwrap_or_else(|| panic!("{name} in /proc/self/status"))
    };
    (field("Uid:"), field("Gid:"))
}

/// `program` as root: itself when the tests run as root (CI does), through
/// `sudo -n` when a developer runs them with passwordless sudo — the same
/// privilege path `scripts/as-root` takes. A test that needs root uses this
/// for exactly the commands that need it, and fails with one line saying so.
pub fn as_root(program: &str) -> std::process::Command {
    if ids().0 == 0 {
        std::process::Command::new(program)
    } else {
        let mut sudo = std::process::Command::new("sudo");
        sudo.arg("-n").arg(program);
        sudo
    }
}

/// The line a test that needs root fails with.
pub const NEEDS_ROOT: &str =
    "this test needs root: run the tests as root or as a user with passwordless sudo";

/// Queues announcements as a person would, through `signalbox console`:
/// the console process delivers only to the console, so what it queues for
/// a network waits in the outbox for `run`. Returns the console's output.
pub fn queue_through_console(config: &Path, lines: &[&str]) -> String {
    let mut child = std::process::Command::new(bin())
        .args(["console", "--config"])
        .arg(config)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("start the console");
    let mut stdin = child.stdin.take().expect("stdin");
    for line in lines {
        writeln!(stdin, "{line}").expect("write a console line");
    }
    drop(stdin);
    let out = child.wait_with_output().expect("the console ends at EOF");
    assert!(out.status.success(), "console failed: {out:?}");
    String::from_utf8_lossy(&out.stdout).to_string()
}

/// `signalbox run` as an operator runs it, its output appended to `log`
/// (read it when a test fails); killed with SIGKILL on drop.
pub struct BotProcess(std::process::Child);

impl BotProcess {
    pub fn start(config: &Path, log: &Path, env: &[(&str, &str)]) -> BotProcess {
        let out = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(log)
            .expect("log file");
        let child = std::process::Command::new(bin())
            .args(["run", "--config"])
            .arg(config)
            .envs(env.iter().copied())
            .stdin(std::process::Stdio::null())
            .stdout(out.try_clone().expect("log file"))
            .stderr(out)
            .spawn()
            .expect("start the bot");
        BotProcess(child)
    }

    /// `kill -9`, and the exit reaped.
    pub fn kill9(mut self) {
        self.0.kill().expect("SIGKILL");
        self.0.wait().expect("reaped");
    }

    /// Sends SIGTERM, as systemd or a container runtime stops it, and waits
    /// (up to `limit`) for the process to exit; its exit status.
    pub async fn terminate(mut self, limit: Duration) -> std::process::ExitStatus {
        let sent = std::process::Command::new("kill")
            .args(["-TERM", &self.0.id().to_string()])
            .status()
            .expect("run kill");
        assert!(sent.success(), "kill -TERM failed");
        let tries = limit.as_millis() / 20;
        for _ in 0..tries {
            if let Some(status) = self.0.try_wait().expect("try_wait") {
                return status;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        panic!("still running {limit:?} after SIGTERM");
    }
}

impl Drop for BotProcess {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The test-only fault that stops each delivery task after its first
/// accepted send, before the entry is removed (see `signalbox::outbox`).
pub const HANG_AFTER_SEND: (&str, &str) = ("SIGNALBOX_FAULT", "hang-after-send");

/// Queues the two announcements of the kill -9 tests through the console:
/// the tree closures with reasons `first-of-two` and `second-of-two`.
pub fn queue_two_announcements(config: &Path) {
    let said = queue_through_console(
        config,
        &[
            "!tree close autoland first-of-two #infra",
            "!tree close try second-of-two #infra",
        ],
    );
    assert!(
        said.contains("closed autoland") && said.contains("closed try"),
        "{said}"
    );
}

/// The crash in the window, for a network whose posts `count` can count
/// (by the text they contain): `run` with [`HANG_AFTER_SEND`] until the
/// first announcement is out, `kill -9`, then `run` again until the second
/// is out. The second process is returned, to keep it alive while the test
/// looks.
pub async fn crash_after_the_first_send(
    config: &Path,
    log: &Path,
    limit: Duration,
    count: impl Fn(&str) -> usize,
) -> BotProcess {
    let first = BotProcess::start(config, log, &[HANG_AFTER_SEND]);
    within("the first announcement", limit, || {
        count("first-of-two") == 1
    })
    .await;
    first.kill9();
    let second = BotProcess::start(config, log, &[]);
    within("the second announcement", limit, || {
        count("second-of-two") == 1
    })
    .await;
    second
}

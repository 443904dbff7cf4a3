//! The status board in a real browser: headless Chromium driven through
//! ChromeDriver's WebDriver API loads the board with a train, a window, a
//! rotation, an alert and an overdue loaner request on it; then a tree is
//! closed, the train held and a loaner requested through the console, and the
//! page shows all three within 2 s without a reload. A screenshot is saved
//! under `target/test-artifacts/board.png`.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use signalbox::clock::ManualClock;
use tokio_util::sync::CancellationToken;

use crate::common::{at, bot, http, say};

/// One WebDriver call; the JSON `value`.
pub(crate) fn webdriver(addr: SocketAddr, method: &str, path: &str, body: Option<Value>) -> Value {
    let mut stream =
        TcpStream::connect_timeout(&addr, Duration::from_secs(5)).expect("connect to chromedriver");
    stream
        .set_read_timeout(Some(Duration::from_secs(60)))
        .expect("timeout");
    let body = body.map(|b| b.to_string()).unwrap_or_default();
    write!(
        stream,
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .expect("write");
    // ChromeDriver keeps the connection open: read the head, then exactly
    // Content-Length bytes.
    let mut raw = Vec::new();
    let mut byte = [0u8; 1];
    while !raw.ends_with(b"\r\n\r\n") {
        stream.read_exact(&mut byte).expect("read head");
        raw.push(byte[0]);
    }
    let head = String::from_utf8_lossy(&raw).to_ascii_lowercase();
    let length: usize = head
        .lines()
        .find_map(|l| l.strip_prefix("content-length:"))
        .and_then(|v| v.trim().parse().ok())
        .expect("content-length");
    let mut body = vec![0u8; length];
    stream.read_exact(&mut body).expect("read body");
    let body = String::from_utf8_lossy(&body);
    let json: Value =
        serde_json::from_str(&body).unwrap_or_else(|e| panic!("{method} {path}: {e}: {body}"));
    json["value"].clone()
}

pub(crate) struct Driver {
    child: Child,
    pub(crate) addr: SocketAddr,
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub(crate) fn chromedriver() -> Driver {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .expect("free port")
        .local_addr()
        .expect("addr")
        .port();
    let child = Command::new("chromedriver")
        .arg(format!("--port={port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("chromedriver is installed (scripts/browser installs it; scripts/test runs that)");
    let addr: SocketAddr = format!("127.0.0.1:{port}").parse().expect("addr");
    // The driver is killed and reaped on drop, also when this panics.
    let driver = Driver { child, addr };
    for _ in 0..100 {
        if TcpStream::connect(addr).is_ok() {
            return driver;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!("chromedriver did not listen on {addr} within 10 s");
}

/// A rotation (the test config leaves the example's out), and a person
/// without roles to ask for a loaner.
const EXTRA: &str = r#"
[people.carol]
irc = "carol"

[[rotations]]
name = "ciduty"
members = ["alice", "bob"]
shift = "1w"
start = "2026-11-16 09:00"
timezone = "UTC"
channels = ["console:#ops"]
grants = ["ciduty"]
"#;

/// What the board shows, read in the page: one JSON object per call.
const READ: &str = "const q=s=>document.querySelector(s);\
const tree=q('tr[data-tree=autoland]');const train=q('#train');\
return {tree: tree?tree.className:null, train: train?train.dataset.state:null,\
blocker: !!q('#blockers li[data-task=T9]'), hold: q('#hold')?q('#hold').textContent:null,\
duty: q('#duty tr[data-rotation=ciduty]')?q('#duty tr[data-rotation=ciduty]').textContent:null,\
window: !!q('#windows tr[data-window=backport]'), alert: !!q('#alert'),\
overdue: q('#loaners tr[data-request=\"1\"]')?q('#loaners tr[data-request=\"1\"]').className:null,\
request2: q('#loaners tr[data-request=\"2\"]')?q('#loaners tr[data-request=\"2\"]').className:null};";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_board_shows_every_section_and_changes_without_a_reload() {
    let dir = tempfile::tempdir().expect("tempdir");
    // Friday 09:00: bob's request is due by 17:00 the same day (8 working hours).
    let clock = Arc::new(ManualClock::new(at("2026-11-20T09:00:00Z")));
    let bot = bot(dir.path(), EXTRA, clock.clone()).await;
    let reply = say(
        &bot,
        "bob",
        "!loaner request linux-large for 1d debug a hang",
    )
    .await;
    assert!(reply.starts_with("request #1 queued"), "{reply}");
    // Sunday 10:00: overdue; the next backport windows are Monday to Thursday.
    clock.set(at("2026-11-22T10:00:00Z"));
    for (who, line) in [
        ("alice", "!train start 1.44.0-wmf.4"),
        ("alice", "!train blocker add T9 search is empty"),
        ("alice", "!status alert CI is down, do not land"),
    ] {
        let reply = say(&bot, who, line).await;
        assert!(!reply.contains("needs role"), "{line}: {reply}");
    }
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let board = listener.local_addr().expect("addr");
    let shutdown = CancellationToken::new();
    tokio::spawn(signalbox::http::serve(
        listener,
        bot.http_state(),
        shutdown.clone(),
    ));

    // Everything the page needs is in the page: no external scripts, styles
    // or fonts.
    let (code, html) = tokio::task::spawn_blocking(move || http(board, "GET", "/"))
        .await
        .expect("join");
    assert_eq!(code, 200);
    for asset in ["<script src", "<link", "@import", "url("] {
        assert!(!html.contains(asset), "the page loads {asset}…: {html}");
    }

    let profile = tempfile::tempdir().expect("profile dir");
    let (driver, session) = tokio::task::spawn_blocking(move || {
        let driver = chromedriver();
        let caps = json!({"capabilities": {"alwaysMatch": {"goog:chromeOptions": {
            "binary": "/usr/bin/chromium",
            "args": ["--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                     "--disable-background-networking", "--disable-quic", "--no-first-run",
                     "--disable-component-update", "--disable-sync", "--window-size=1280,1400",
                     format!("--user-data-dir={}", profile.path().display())]
        }}}});
        let session = webdriver(driver.addr, "POST", "/session", Some(caps));
        let id = session["sessionId"]
            .as_str()
            .unwrap_or_else(|| panic!("no session: {session}"))
            .to_string();
        webdriver(
            driver.addr,
            "POST",
            &format!("/session/{id}/url"),
            Some(json!({"url": format!("http://{board}/")})),
        );
        (driver, (id, profile))
    })
    .await
    .expect("join");
    let (id, _profile) = session;
    let addr = driver.addr;
    let read = move |id: &str| {
        webdriver(
            addr,
            "POST",
            &format!("/session/{id}/execute/sync"),
            Some(json!({"script": READ, "args": []})),
        )
    };
    let before = tokio::task::spawn_blocking({
        let id = id.clone();
        move || read(&id)
    })
    .await
    .expect("join");
    assert_eq!(before["tree"], "open", "{before}");
    assert_eq!(before["train"], "rolling", "{before}");
    assert_eq!(before["blocker"], true, "the blocker is listed: {before}");
    assert_eq!(before["window"], true, "the next backport window: {before}");
    assert_eq!(before["alert"], true, "the alert: {before}");
    assert_eq!(
        before["overdue"], "overdue",
        "bob's request is overdue: {before}"
    );
    assert_eq!(before["request2"], Value::Null, "{before}");
    let duty = before["duty"].as_str().unwrap_or_default();
    assert!(duty.contains("alice"), "alice is on shift: {before}");

    // Let the page's event stream connect before the changes.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let changed = Instant::now();
    say(&bot, "alice", "!tree close autoland bustage #infra").await;
    let held = say(
        &bot,
        "alice",
        "!train hold T10 the database migration is stuck",
    )
    .await;
    assert!(!held.contains("needs role"), "{held}");
    let asked = say(&bot, "carol", "!loaner request linux-large build a release").await;
    assert!(asked.starts_with("request #2 queued"), "{asked}");
    let shown = tokio::task::spawn_blocking({
        let id = id.clone();
        move || {
            let mut last = Value::Null;
            while changed.elapsed() < Duration::from_secs(2) {
                last = read(&id);
                if last["tree"] == "closed"
                    && last["train"] == "held"
                    && last["request2"] == "pending"
                {
                    return Ok((changed.elapsed(), last));
                }
                std::thread::sleep(Duration::from_millis(50));
            }
            Err(last)
        }
    })
    .await
    .expect("join");
    let png = tokio::task::spawn_blocking({
        let id = id.clone();
        move || webdriver(addr, "GET", &format!("/session/{id}/screenshot"), None)
    })
    .await
    .expect("join");
    let artifacts = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("../test-artifacts");
    std::fs::create_dir_all(&artifacts).expect("artifact dir");
    let bytes = decode_base64(png.as_str().expect("screenshot is base64"));
    assert!(bytes.starts_with(b"\x89PNG"), "a PNG screenshot");
    std::fs::write(artifacts.join("board.png"), bytes).expect("save screenshot");
    tokio::task::spawn_blocking(move || webdriver(addr, "DELETE", &format!("/session/{id}"), None))
        .await
        .expect("join");
    drop(driver);
    shutdown.cancel();
    let (_, after) = shown.unwrap_or_else(|last| {
        panic!("within 2 s of the changes the board did not show them all: {last}")
    });
    let hold = after["hold"].as_str().unwrap_or_default();
    assert!(
        hold.contains("T10") && hold.contains("the database migration is stuck"),
        "the hold names its blocker task and reason: {after}"
    );
}

pub(crate) fn decode_base64(text: &str) -> Vec<u8> {
    let value = |c: u8| match c {
        b'A'..=b'Z' => c - b'A',
        b'a'..=b'z' => c - b'a' + 26,
        b'0'..=b'9' => c - b'0' + 52,
        b'+' => 62,
        _ => 63,
    };
    let clean: Vec<u8> = text
        .bytes()
        .filter(|c| *c != b'=' && !c.is_ascii_whitespace())
        .collect();
    clean
        .chunks(4)
        .flat_map(|chunk| {
            let n = chunk
                .iter()
                .enumerate()
                .fold(0u32, |n, (i, c)| n | (u32::from(value(*c)) << (18 - 6 * i)));
            let bytes = [(n >> 16) as u8, (n >> 8) as u8, n as u8];
            bytes.into_iter().take(chunk.len().saturating_sub(1))
        })
        .collect()
}

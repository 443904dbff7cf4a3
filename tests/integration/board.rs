//! The status board in a real browser: headless Chromium driven through
//! ChromeDriver's WebDriver API loads the board, a tree is closed through the
//! console, and the page shows it closed without a reload. A screenshot is
//! saved under `target/test-artifacts/`.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use signalbox::clock::ManualClock;
use tokio_util::sync::CancellationToken;

use crate::common::{at, bot, say};

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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_board_shows_a_closure_without_a_reload() {
    let dir = tempfile::tempdir().expect("tempdir");
    let clock = Arc::new(ManualClock::new(at("2026-11-22T10:00:00Z")));
    let bot = bot(dir.path(), "", clock).await;
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

    let profile = tempfile::tempdir().expect("profile dir");
    let (driver, session) = tokio::task::spawn_blocking(move || {
        let driver = chromedriver();
        let caps = json!({"capabilities": {"alwaysMatch": {"goog:chromeOptions": {
            "binary": "/usr/bin/chromium",
            "args": ["--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                     "--disable-background-networking", "--disable-quic", "--no-first-run",
                     "--disable-component-update", "--disable-sync", "--window-size=1000,700",
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
    let class = move |id: String| {
        let script = json!({"script": "const r=document.querySelector('tr[data-tree=autoland]');return r?r.className:null;", "args": []});
        webdriver(
            addr,
            "POST",
            &format!("/session/{id}/execute/sync"),
            Some(script),
        )
    };
    let before = tokio::task::spawn_blocking({
        let id = id.clone();
        move || class(id)
    })
    .await
    .expect("join");
    assert_eq!(before, json!("open"));

    // Let the page's event stream connect before the change.
    tokio::time::sleep(Duration::from_millis(500)).await;
    say(&bot, "alice", "!tree close autoland bustage #infra").await;
    let changed = Instant::now();
    let shown = tokio::task::spawn_blocking({
        let id = id.clone();
        move || {
            while changed.elapsed() < Duration::from_secs(2) {
                if class(id.clone()) == json!("closed") {
                    return Some(changed.elapsed());
                }
                std::thread::sleep(Duration::from_millis(50));
            }
            None
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
    assert!(
        shown.is_some(),
        "the board did not show autoland closed within 2 s of the change"
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

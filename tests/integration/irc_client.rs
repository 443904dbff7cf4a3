//! A real IRC network for the tests (InspIRCd + Anope started by
//! scripts/irc-server on free loopback ports in a temp dir) and a small IRC
//! client that registers, logs in with SASL, joins and reads lines with a
//! deadline.

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::time::Instant;

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr")
        .port()
}

fn script() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("scripts/irc-server")
}

/// InspIRCd linked to Anope; stopped on drop.
pub struct Network {
    pub dir: tempfile::TempDir,
    pub port: u16,
    pub strict_port: u16,
}

impl Network {
    pub fn start() -> Network {
        let dir = tempfile::tempdir().expect("tempdir");
        let (port, link, strict_port) = (free_port(), free_port(), free_port());
        let out = Command::new(script())
            .arg("start")
            .arg(dir.path())
            .args([port.to_string(), link.to_string(), strict_port.to_string()])
            .output()
            .expect("run scripts/irc-server");
        assert!(
            out.status.success(),
            "scripts/irc-server start failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        Network {
            dir,
            port,
            strict_port,
        }
    }

    fn pid(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("inspircd.pid"))
            .expect("pid file")
            .trim()
            .to_string()
    }

    /// SIGKILLs InspIRCd (Anope stays and relinks when it is back).
    pub fn kill_ircd(&self) {
        let status = Command::new("kill")
            .args(["-9", &self.pid()])
            .status()
            .expect("kill");
        assert!(status.success());
    }

    /// Starts InspIRCd again on the same ports; returns once SASL is offered.
    pub fn restart_ircd(&self) {
        let out = Command::new(script())
            .arg("restart-ircd")
            .arg(self.dir.path())
            .output()
            .expect("run scripts/irc-server");
        assert!(
            out.status.success(),
            "restart failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// Registers a NickServ account named like `nick`.
    pub async fn register(&self, nick: &str, password: &str) {
        let mut c = Client::connect(self.port, nick, None).await;
        c.send(&format!(
            "PRIVMSG NickServ :REGISTER {password} {nick}@example.org"
        ))
        .await;
        c.expect(&format!("registering {nick}"), |l| l.contains(" 900 "))
            .await;
        c.quit().await;
    }
}

impl Drop for Network {
    fn drop(&mut self) {
        let _ = Command::new(script())
            .arg("stop")
            .arg(self.dir.path())
            .status();
    }
}

pub struct Client {
    pub nick: String,
    reader: BufReader<OwnedReadHalf>,
    writer: OwnedWriteHalf,
    /// Every line read so far.
    pub seen: Vec<String>,
}

pub const WAIT: Duration = Duration::from_secs(20);

impl Client {
    /// Connects and registers; with `sasl` = (account, password) logs in.
    pub async fn connect(port: u16, nick: &str, sasl: Option<(&str, &str)>) -> Client {
        let stream = TcpStream::connect(("127.0.0.1", port))
            .await
            .expect("connect to the test ircd");
        stream.set_nodelay(true).expect("nodelay");
        let (r, w) = stream.into_split();
        let mut c = Client {
            nick: nick.to_string(),
            reader: BufReader::new(r),
            writer: w,
            seen: Vec::new(),
        };
        c.send("CAP LS 302").await;
        c.send(&format!("NICK {nick}")).await;
        c.send(&format!("USER {nick} 0 * :test client")).await;
        c.expect("CAP LS", |l| l.contains(" CAP * LS ")).await;
        let caps = "message-tags server-time account-tag batch";
        match sasl {
            Some((account, password)) => {
                c.send(&format!("CAP REQ :{caps} sasl")).await;
                c.expect("CAP ACK", |l| l.contains(" ACK ")).await;
                c.send("AUTHENTICATE PLAIN").await;
                c.expect("AUTHENTICATE +", |l| {
                    untagged(l).starts_with("AUTHENTICATE")
                })
                .await;
                let payload = b64(format!("{account}\0{account}\0{password}").as_bytes());
                c.send(&format!("AUTHENTICATE {payload}")).await;
                c.expect("SASL success", |l| l.contains(" 903 ")).await;
            }
            None => {
                c.send(&format!("CAP REQ :{caps}")).await;
                c.expect("CAP ACK", |l| l.contains(" ACK ")).await;
            }
        }
        c.send("CAP END").await;
        c.expect("welcome", |l| l.contains(" 001 ")).await;
        c
    }

    pub async fn send(&mut self, line: &str) {
        self.writer
            .write_all(format!("{line}\r\n").as_bytes())
            .await
            .expect("write to the ircd");
    }

    /// Sends raw bytes as one line (not necessarily UTF-8).
    pub async fn send_bytes(&mut self, line: &[u8]) {
        let mut bytes = line.to_vec();
        bytes.extend_from_slice(b"\r\n");
        self.writer
            .write_all(&bytes)
            .await
            .expect("write to the ircd");
    }

    pub async fn join(&mut self, channel: &str) {
        self.send(&format!("JOIN {channel}")).await;
        self.expect("end of names", |l| l.contains(" 366 ")).await;
    }

    pub async fn quit(mut self) {
        self.send("QUIT :bye").await;
    }

    /// The next line, or `None` at `deadline` or end of stream.
    pub async fn next_line(&mut self, deadline: Instant) -> Option<String> {
        let mut buf = String::new();
        match tokio::time::timeout_at(deadline, self.reader.read_line(&mut buf)).await {
            Ok(Ok(n)) if n > 0 => {
                let line = buf.trim_end_matches(['\r', '\n']).to_string();
                if let Some(token) = line.strip_prefix("PING ") {
                    let pong = format!("PONG {token}");
                    self.send(&pong).await;
                }
                self.seen.push(line.clone());
                Some(line)
            }
            _ => None,
        }
    }

    /// Reads until a line matches (within [`WAIT`]); panics otherwise.
    pub async fn expect(&mut self, what: &str, mut pred: impl FnMut(&str) -> bool) -> String {
        let deadline = Instant::now() + WAIT;
        while let Some(line) = self.next_line(deadline).await {
            if pred(&line) {
                return line;
            }
        }
        panic!(
            "{}: timed out waiting for {what}; last lines:\n{}",
            self.nick,
            self.seen
                .iter()
                .rev()
                .take(15)
                .rev()
                .cloned()
                .collect::<Vec<_>>()
                .join("\n")
        );
    }

    /// Every line read until `for_` has passed.
    pub async fn collect(&mut self, for_: Duration) -> Vec<String> {
        let deadline = Instant::now() + for_;
        let mut out = Vec::new();
        while let Some(line) = self.next_line(deadline).await {
            out.push(line);
        }
        out
    }
}

/// A line without its tags: what the 512-byte limit applies to.
pub fn untagged(line: &str) -> &str {
    if line.starts_with('@') {
        line.split_once(' ').map_or(line, |(_, rest)| rest)
    } else {
        line
    }
}

/// The text of a PRIVMSG to `target` from `nick`, if the line is one.
pub fn privmsg<'a>(line: &'a str, nick: &str, target: &str) -> Option<&'a str> {
    let rest = untagged(line).strip_prefix(':')?;
    let (source, rest) = rest.split_once(' ')?;
    let from = source.split('!').next()?;
    if !from.eq_ignore_ascii_case(nick) {
        return None;
    }
    rest.strip_prefix(&format!("PRIVMSG {target} :"))
}

fn b64(input: &[u8]) -> String {
    const T: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for c in input.chunks(3) {
        let n = (u32::from(c[0]) << 16)
            | (u32::from(*c.get(1).unwrap_or(&0)) << 8)
            | u32::from(*c.get(2).unwrap_or(&0));
        for i in 0..4 {
            out.push(if i <= c.len() {
                char::from(T[((n >> (18 - 6 * i)) & 63) as usize])
            } else {
                '='
            });
        }
    }
    out
}

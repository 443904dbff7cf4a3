//! The data directory's filesystem turns read-only under a running bot —
//! what ext4 does (`errors=remount-ro`) when its disk reports an error. The
//! bot must refuse changes with a clear message, answer `/healthz` with 503,
//! keep serving reads, announce nothing it did not record, and after the
//! filesystem is repaired (`e2fsck`) and the bot restarted, hold exactly
//! the changes it acknowledged.
//!
//! Why not `chmod` or `mount -o remount,ro`: the tests run as root, whom
//! permissions do not stop, and a remount is refused while sled holds its
//! files open for writing. So the data dir is an ext4 image on a loop
//! device, and the kernel's own error path is triggered through
//! `/sys/fs/ext4/<dev>/trigger_fs_error`. Like `faults.rs`, this needs root
//! for those steps (`common::as_root`: root itself as in CI, or passwordless
//! sudo); the filesystem's root directory belongs to the tests' user, so the
//! bot runs unprivileged either way. Without root the test fails, saying so.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::common::{NEEDS_ROOT, as_root, bin, http, ids, write_config};

const TOKEN: &str = "readonly-test-token";

/// An ext4 image mounted on a loop device; unmounted and detached on drop.
struct Ext4 {
    image: PathBuf,
    device: String,
    mount: PathBuf,
}

fn run_ok(cmd: &mut Command) -> std::process::Output {
    let out = cmd.output().unwrap_or_else(|e| panic!("{cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?} failed ({NEEDS_ROOT}): {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

impl Ext4 {
    fn create(image: &Path, mount: &Path) -> Ext4 {
        std::fs::File::create(image)
            .and_then(|f| f.set_len(64 << 20))
            .expect("image file");
        let (uid, gid) = ids();
        run_ok(
            as_root("mkfs.ext4")
                .args(["-q", "-F", "-E"])
                .arg(format!("root_owner={uid}:{gid}"))
                .arg(image),
        );
        let out = run_ok(as_root("losetup").args(["-f", "--show"]).arg(image));
        let device = String::from_utf8_lossy(&out.stdout).trim().to_string();
        std::fs::create_dir_all(mount).expect("mount point");
        let fs = Ext4 {
            image: image.to_path_buf(),
            device,
            mount: mount.to_path_buf(),
        };
        fs.mount();
        assert!(
            !fs.is_read_only(),
            "{} mounted read-only from the start (a loop device left with `blockdev --setro`?)",
            fs.device
        );
        fs
    }

    fn mount(&self) {
        run_ok(
            as_root("mount")
                .args(["-o", "errors=remount-ro", &self.device])
                .arg(&self.mount),
        );
    }

    fn unmount(&self) {
        run_ok(as_root("umount").arg(&self.mount));
    }

    /// Commits the filesystem's journal (`syncfs`).
    fn sync(&self) {
        run_ok(Command::new("sync").arg("-f").arg(&self.mount));
    }

    /// What a disk error does: ext4 aborts its journal and remounts itself
    /// read-only, whoever has files open.
    fn fail(&self) {
        let name = Path::new(&self.device)
            .file_name()
            .expect("a device name")
            .to_string_lossy()
            .to_string();
        let mut tee = as_root("tee")
            .arg(format!("/sys/fs/ext4/{name}/trigger_fs_error"))
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .spawn()
            .expect("tee runs");
        tee.stdin
            .take()
            .expect("piped stdin")
            .write_all(b"signalbox read-only test\n")
            .expect("write to tee");
        let status = tee.wait().expect("tee ends");
        assert!(status.success(), "triggering an ext4 error: {NEEDS_ROOT}");
    }

    /// Whether the kernel has the mount read-only (newer kernels say
    /// `emergency_ro` after an error and keep `rw` in the options).
    fn is_read_only(&self) -> bool {
        let mounts = std::fs::read_to_string("/proc/mounts").expect("/proc/mounts");
        let target = self.mount.display().to_string();
        mounts.lines().any(|l| {
            let fields: Vec<&str> = l.split(' ').collect();
            fields.get(1) == Some(&target.as_str())
                && fields
                    .get(3)
                    .is_some_and(|o| o.split(',').any(|o| o == "ro" || o == "emergency_ro"))
        })
    }

    /// Unmounted, checked and repaired, mounted again read-write.
    fn repair(&self) {
        self.unmount();
        let status = as_root("e2fsck")
            .args(["-f", "-y"])
            .arg(&self.image)
            .status()
            .expect("e2fsck runs");
        // 0: clean; 1: errors corrected (the error flag the trigger set).
        assert!(
            matches!(status.code(), Some(0 | 1)),
            "e2fsck could not repair the image: {status}"
        );
        self.mount();
    }
}

impl Drop for Ext4 {
    fn drop(&mut self) {
        let _ = as_root("umount").arg(&self.mount).status();
        let _ = as_root("losetup").arg("-d").arg(&self.device).status();
    }
}

/// `signalbox run` with its stdout (the console adapter's announcements)
/// collected; killed on drop.
struct Bot {
    child: Child,
    addr: SocketAddr,
    stdout: Arc<Mutex<String>>,
}

impl Bot {
    fn start(config: &Path) -> Bot {
        let mut child = Command::new(bin())
            .args(["run", "--config"])
            .arg(config)
            .env("SIGNALBOX__PEOPLE__ALICE__API_TOKEN", TOKEN)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn run");
        let stderr = BufReader::new(child.stderr.take().expect("stderr"));
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            // Keep reading, so the bot never blocks on a full pipe.
            for line in stderr.lines().map_while(Result::ok) {
                let _ = tx.send(line);
            }
        });
        let mut said = Vec::new();
        let addr = loop {
            match rx.recv_timeout(Duration::from_secs(60)) {
                Ok(line) => match line.strip_prefix("signalbox: http listening on http://") {
                    Some(addr) => break addr.parse().expect("an address"),
                    None => said.push(line),
                },
                Err(e) => panic!("run did not announce its address ({e}): {said:#?}"),
            }
        };
        let stdout = Arc::new(Mutex::new(String::new()));
        let sink = stdout.clone();
        let out = BufReader::new(child.stdout.take().expect("stdout"));
        std::thread::spawn(move || {
            for line in out.lines().map_while(Result::ok) {
                let mut s = sink.lock().expect("stdout buffer");
                s.push_str(&line);
                s.push('\n');
            }
        });
        Bot {
            child,
            addr,
            stdout,
        }
    }

    fn printed(&self) -> String {
        self.stdout.lock().expect("stdout buffer").clone()
    }

    /// `PATCH /trees` as alice; status and body.
    fn patch(&self, body: &Value) -> (u16, Value) {
        let body = body.to_string();
        let mut stream =
            TcpStream::connect_timeout(&self.addr, Duration::from_secs(5)).expect("connect");
        stream
            .set_read_timeout(Some(Duration::from_secs(30)))
            .expect("timeout");
        write!(
            stream,
            "PATCH /trees HTTP/1.1\r\nHost: {}\r\nConnection: close\r\n\
             Authorization: Bearer {TOKEN}\r\nContent-Type: application/json\r\n\
             Content-Length: {}\r\n\r\n{body}",
            self.addr,
            body.len()
        )
        .expect("write");
        let mut raw = String::new();
        stream.read_to_string(&mut raw).expect("read");
        let code = raw
            .split(' ')
            .nth(1)
            .and_then(|s| s.parse().ok())
            .expect("status line");
        let (_, body) = raw.split_once("\r\n\r\n").expect("head and body");
        (code, serde_json::from_str(body).expect("a JSON body"))
    }

    fn get(&self, path: &str) -> (u16, Value) {
        let (code, body) = http(self.addr, "GET", path);
        (code, serde_json::from_str(&body).expect("a JSON body"))
    }

    fn kill(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Bot {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn close(tree: &str, reason: &str) -> Value {
    json!({"trees": [tree], "status": "closed", "reason": reason, "tags": ["infra"]})
}

#[test]
fn a_data_dir_gone_read_only_refuses_changes_and_loses_nothing_acknowledged() {
    let dir = tempfile::tempdir().expect("tempdir");
    let fs = Ext4::create(&dir.path().join("data.img"), &dir.path().join("data"));
    let config = write_config(dir.path(), "");

    let bot = Bot::start(&config);
    let (code, body) = bot.patch(&close("autoland", "before"));
    assert_eq!(code, 200, "{body}");
    assert_eq!(bot.get("/healthz").0, 200);

    // sled's flush is `sync_file_range`, not `fsync`: the data reaches the
    // device, but ext4's metadata for it (the file's size and blocks) waits
    // for the next journal commit, which the error aborts. Without this
    // `sync` the repaired image held an empty ledger — every acknowledged
    // change gone: the power-loss limit in README "Guarantees and limits".
    // This test is about what happens from the failure on: commit first.
    fs.sync();
    fs.fail();
    assert!(
        fs.is_read_only(),
        "the ext4 error did not make the mount read-only"
    );

    // The first write to fail and every one after it: a clear refusal.
    let (code, body) = bot.patch(&close("try", "during"));
    assert_eq!(code, 503, "{body}");
    let detail = body["detail"].as_str().unwrap_or_default();
    assert!(
        detail.starts_with("nothing changed: the ledger cannot write"),
        "{body}"
    );
    let (code, body) = bot.patch(&close("mozilla-central", "later"));
    assert_eq!(code, 503, "{body}");
    assert!(
        body["detail"]
            .as_str()
            .is_some_and(|d| d.contains("changes are refused")),
        "{body}"
    );

    let (code, health) = bot.get("/healthz");
    assert_eq!(code, 503, "{health}");
    assert_eq!(health["ledger"], "cannot write", "{health}");
    // Reads go on, and show nothing of the refused changes.
    let (code, tree) = bot.get("/trees/autoland");
    assert_eq!((code, &tree["result"]["reason"]), (200, &json!("before")));
    let (_, tree) = bot.get("/trees/try");
    assert_eq!(tree["result"]["status"], "open", "{tree}");
    // Nothing refused is announced, even after the outbox had time to look.
    let until = Instant::now() + Duration::from_secs(3);
    while Instant::now() < until && !bot.printed().contains("alice closed autoland") {
        std::thread::sleep(Duration::from_millis(50));
    }
    let printed = bot.printed();
    assert!(
        printed.contains("alice closed autoland: before"),
        "{printed}"
    );
    // The outbox also looks every 5 s without being woken: give it 6.
    std::thread::sleep(Duration::from_secs(6));
    let printed = bot.printed();
    assert!(
        !printed.contains("during") && !printed.contains("later"),
        "a refused change was announced: {printed}"
    );
    bot.kill();

    // Repaired and restarted: exactly what was acknowledged.
    fs.repair();
    let out = Command::new(bin())
        .args(["export", "--config"])
        .arg(&config)
        .output()
        .expect("export");
    assert!(
        out.status.success(),
        "the ledger does not open after the repair: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let export: Value = serde_json::from_slice(&out.stdout).expect("export json");
    let reasons: Vec<&str> = export["events"]
        .as_array()
        .expect("events")
        .iter()
        .flat_map(|e| e["changes"].as_array().into_iter().flatten())
        .flat_map(|c| c["edits"].as_array().into_iter().flatten())
        .filter_map(|edit| edit["after"]["reason"].as_str())
        .collect();
    assert_eq!(
        reasons,
        ["before"],
        "exactly the acknowledged change is recorded: {export:#}"
    );
    let bot = Bot::start(&config);
    assert_eq!(bot.get("/healthz").0, 200);
    let (_, tree) = bot.get("/trees/autoland");
    assert_eq!(tree["result"]["reason"], "before", "{tree}");
    let (code, body) = bot.patch(&close("try", "after"));
    assert_eq!(code, 200, "writes work again: {body}");
    let (_, tree) = bot.get("/trees/try");
    assert_eq!(tree["result"]["reason"], "after", "{tree}");
    bot.kill();
}

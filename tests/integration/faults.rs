//! When the disk is full the ledger refuses changes with a clear message,
//! `/healthz` answers 503, and nothing half-applies. The data directory is a
//! tiny tmpfs mounted for the test, which needs root (`common::as_root`:
//! root itself, as in CI, or a developer's passwordless sudo).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;

use signalbox::Bot;
use signalbox::clock::{Clock, ManualClock};

use crate::common::{NEEDS_ROOT, as_root, at, config_text, http, ids, say, serve};

/// A mounted tmpfs, unmounted on drop.
struct Tmpfs(PathBuf);

impl Tmpfs {
    fn mount(dir: &Path, size: &str) -> Tmpfs {
        std::fs::create_dir_all(dir).expect("mount point");
        let (uid, gid) = ids();
        let status = as_root("mount")
            .args(["-t", "tmpfs", "-o"])
            .arg(format!("size={size},uid={uid},gid={gid}"))
            .arg("tmpfs")
            .arg(dir)
            .status()
            .expect("mount runs");
        assert!(status.success(), "mounting a tmpfs: {NEEDS_ROOT}");
        Tmpfs(dir.to_path_buf())
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = as_root("umount").arg("-l").arg(&self.0).status();
    }
}

#[tokio::test]
async fn a_full_disk_refuses_changes_and_fails_the_health_check() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("data");
    let _mount = Tmpfs::mount(&data, "8m");
    let text = config_text(dir.path(), "");
    let config = signalbox::config::Config::from_text(&text, "t", &Default::default(), None)
        .expect("config");
    let clock = Arc::new(ManualClock::new(at("2026-11-22T10:00:00Z")));
    let bot = Bot::open(config, clock as Arc<dyn Clock>)
        .await
        .expect("bot");
    let (addr, shutdown) = serve(&bot).await;
    assert!(
        say(&bot, "alice", "!tree close try before #infra")
            .await
            .starts_with("closed try")
    );

    // Fill the disk, then keep changing state until the ledger notices.
    let free = {
        let out = Command::new("df")
            .arg("--output=avail")
            .arg("-B1")
            .arg(&data)
            .output()
            .expect("df");
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .nth(1)
            .and_then(|l| l.trim().parse::<u64>().ok())
            .expect("df avail")
    };
    std::fs::write(
        data.join("filler"),
        vec![0u8; free.saturating_sub(4096) as usize],
    )
    .ok();
    let motd = "x".repeat(3000);
    let mut refusal = None;
    for i in 0..400 {
        let reply = say(&bot, "alice", &format!("!tree motd autoland {i} {motd}")).await;
        if reply.starts_with("could not record the change") {
            refusal = Some(reply);
            break;
        }
    }
    let refusal = refusal.expect("a full disk is noticed within 400 writes");
    assert!(
        refusal.contains("nothing changed: the ledger cannot write"),
        "{refusal}"
    );
    let state = bot.ledger.state();
    let later = say(&bot, "alice", "!tree open try").await;
    assert!(
        later.starts_with("could not record the change, nothing changed"),
        "{later}"
    );
    assert_eq!(*bot.ledger.state(), *state, "nothing half-applies");
    assert!(
        say(&bot, "bob", "!tree")
            .await
            .contains("try: closed — before"),
        "reads still work"
    );
    let (code, body) = tokio::task::spawn_blocking(move || http(addr, "GET", "/healthz"))
        .await
        .expect("join");
    assert_eq!(code, 503, "{body}");
    assert!(body.contains("cannot write"), "{body}");
    shutdown.cancel();
}

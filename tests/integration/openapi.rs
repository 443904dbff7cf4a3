//! The OpenAPI description matches what the server does: Schemathesis (from
//! PyPI, installed by `scripts/schemathesis`) generates requests for every
//! operation, authorised as an admin so writes really run, and checks that no
//! answer is a server error, every status code and content type is
//! documented, and every body matches its schema. The console first puts
//! something in every family (a held train with a blocker, a one-off window
//! with a queued patch, log entries, loaner requests, an alert, a meeting's
//! minutes with an action item, a rotation with an override), so the
//! schemas are checked against real content rather than empty lists; the
//! calendar feeds and page are among the operations.
//! `/events` streams forever and is left out of the run.

use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};

use crate::common::{bin, write_config};

/// Console lines (as alice, an admin) that give every family content; the
/// one-off window starts the day after tomorrow, in the coming week.
fn seed() -> String {
    let now = signalbox::clock::SystemClock::current();
    let hotfix = (now + chrono::Duration::days(2)).format("%Y-%m-%d 16:00");
    let from = (now + chrono::Duration::days(3)).format("%Y-%m-%d");
    let until = (now + chrono::Duration::days(4)).format("%Y-%m-%d");
    format!(
        "!tree close autoland bustage #infra
!train start 1.44.0-wmf.4
!train blocker add T9 search is empty
!train hold T10 the database migration is stuck
!window add hotfix \"{hotfix}\" 1h alice
!oncall override ciduty bob {from} {until}
!window start backport
!log synced T123 and bug 456
!window done
!window start backport
!log restarted mw1001 T124
!window join backport https://gerrit.example.org/r/c/ops/+/1234 T5
!loaner request linux-large for 1d debug a hang
!loaner approve 1
!status alert CI is down
!meeting start triage
!info two new crashes
!action bob file the blocker
!agreed promote on Thursday
!meeting end
"
    )
}

/// The example's `ciduty` rotation (the shared test config leaves the
/// example's rotations out).
const ROTATION: &str = r#"
[[rotations]]
name = "ciduty"
members = ["alice", "bob"]
handoff = "0 0 9 * * Mon,Thu"
start = "2026-01-05 09:00"
timezone = "Europe/Berlin"
channels = ["console:#ops"]
"#;

#[test]
fn schemathesis_finds_no_server_error_or_undocumented_status() {
    let installer = concat!(env!("CARGO_MANIFEST_DIR"), "/scripts/schemathesis");
    let out = Command::new(installer)
        .output()
        .expect("scripts/schemathesis runs");
    assert!(
        out.status.success(),
        "installing schemathesis failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let schemathesis = String::from_utf8(out.stdout)
        .expect("path")
        .trim()
        .to_string();

    let dir = tempfile::tempdir().expect("tempdir");
    // A rotation, so the shift routes (`/current/{rotation}`, the calendar
    // feeds) answer with content, not only 404; an override on it comes
    // from the seed.
    let config = write_config(dir.path(), ROTATION);
    let mut console = Command::new(bin())
        .args(["console", "--config"])
        .arg(&config)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn console");
    console
        .stdin
        .take()
        .expect("stdin")
        .write_all(seed().as_bytes())
        .expect("write");
    let seeded = console.wait_with_output().expect("console exits");
    let said = String::from_utf8_lossy(&seeded.stdout);
    assert!(seeded.status.success(), "console: {said}");
    for done in [
        "held train",
        "added window hotfix",
        "bob is on ciduty shift",
        "queued #1",
        "approved #1",
        "alert posted",
        "action #1 for bob",
    ] {
        assert!(said.contains(done), "seeding did not say {done:?}: {said}");
    }
    let mut bot = Command::new(bin())
        .args(["run", "--config"])
        .arg(&config)
        .env("SIGNALBOX__PEOPLE__ALICE__API_TOKEN", "schemathesis-token")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn bot");
    let stderr = BufReader::new(bot.stderr.take().expect("stderr"));
    let addr = stderr
        .lines()
        .map_while(Result::ok)
        .find_map(|l| {
            l.strip_prefix("signalbox: http listening on ")
                .map(str::to_string)
        })
        .expect("the bot announces its address");
    // Schemathesis keeps a cache in its working directory: not in the repo.
    let run = Command::new(&schemathesis)
        .current_dir(dir.path())
        .args(["run", &format!("{addr}/api/openapi.json")])
        .args([
            "--checks",
            "not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance",
        ])
        .args(["--exclude-path", "/events"])
        .args([
            "--max-examples",
            "25",
            "--seed",
            "7",
            "--request-timeout",
            "10",
        ])
        .args(["-H", "Authorization: Bearer schemathesis-token"])
        .output()
        .expect("schemathesis runs");
    let _ = bot.kill();
    let _ = bot.wait();
    let report = String::from_utf8_lossy(&run.stdout);
    assert!(
        run.status.success(),
        "schemathesis found problems:\n{report}\n{}",
        String::from_utf8_lossy(&run.stderr)
    );
    assert!(report.contains("passed"), "{report}");
}

//! `export` then `import` into an empty directory reproduces the whole state.

use std::io::Write;
use std::process::{Command, Stdio};

use crate::common::{bin, write_config};

fn run(args: &[&str], config: &std::path::Path, input: &[u8]) -> std::process::Output {
    let mut child = Command::new(bin())
        .args(args)
        .arg("--config")
        .arg(config)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(input)
        .expect("write");
    child.wait_with_output().expect("wait")
}

#[test]
fn export_import_round_trips_and_refuses_a_used_directory() {
    let one = tempfile::tempdir().expect("tempdir");
    let two = tempfile::tempdir().expect("tempdir");
    let config_one = write_config(one.path(), "");
    let config_two = write_config(two.path(), "");
    let script = b"!tree close autoland,try bustage #infra for 3h\n!tree motd try hello\n!tree approval mozilla-central rc #planned\n!tree open try\n";
    assert!(run(&["console"], &config_one, script).status.success());

    let exported = run(&["export"], &config_one, b"");
    assert!(exported.status.success());
    let imported = run(&["import"], &config_two, &exported.stdout);
    assert!(
        imported.status.success(),
        "{}",
        String::from_utf8_lossy(&imported.stderr)
    );
    let again = run(&["export"], &config_two, b"");
    let a: serde_json::Value = serde_json::from_slice(&exported.stdout).expect("json");
    let b: serde_json::Value = serde_json::from_slice(&again.stdout).expect("json");
    assert_eq!(a, b);
    assert_eq!(
        a["state"]["trees"]["trees"]["mozilla-central"]["status"],
        "approval required"
    );
    assert!(a["events"].as_array().expect("events").len() >= 4);

    let twice = run(&["import"], &config_two, &exported.stdout);
    assert!(!twice.status.success());
    assert!(String::from_utf8_lossy(&twice.stderr).contains("already holds events"));

    let garbage = run(&["import"], &config_two, b"{\"not\": \"an export\"}");
    assert!(!garbage.status.success());
    assert!(String::from_utf8_lossy(&garbage.stderr).contains("not a signalbox export"));
}

#[test]
fn export_into_a_reader_that_stops_early_is_not_a_crash() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = write_config(dir.path(), "");
    let script = b"!tree close autoland,try bustage #infra\n!tree open try\n".repeat(300);
    assert!(run(&["console"], &config, &script).status.success());
    // Like `signalbox export | head -c 10`: the pipe's reader goes away
    // after a few bytes, so later writes meet a closed pipe.
    let mut child = Command::new(bin())
        .arg("export")
        .arg("--config")
        .arg(&config)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    let mut head = [0u8; 10];
    std::io::Read::read_exact(&mut child.stdout.take().expect("stdout"), &mut head)
        .expect("the export starts");
    let out = child.wait_with_output().expect("wait");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert!(out.status.success(), "{stderr}");
}

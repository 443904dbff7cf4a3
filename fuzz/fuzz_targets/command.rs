//! Chat text through the core as the router takes it: words → grammar →
//! permission → handler, then the outcome recorded as the ledger records it.
//! Each input line is one message; lines run in order against one state, so
//! the fuzzer can build up trains, loans and windows and then poke at them.
//! No line may panic, every refusal must say something, and the state must
//! survive the restart round trip after every change.

#![no_main]

use std::sync::OnceLock;

use chrono::Duration;
use libfuzzer_sys::fuzz_target;
use signalbox_commands::{Parsed, handle, parse, words};
use signalbox_fuzz::{World, example_config};

/// Lines per input: enough for a request → approve → return story.
const MAX_LINES: usize = 12;

/// Speakers in the example config: an admin and sheriff, a person without
/// roles, and a stranger (a guest).
const SPEAKERS: [&str; 3] = ["alice", "bob", "mallory"];

/// Built once: compiling the config's patterns costs more than a run.
fn world() -> World {
    static WORLD: OnceLock<World> = OnceLock::new();
    WORLD.get_or_init(|| World::new(&example_config())).clone()
}

fuzz_target!(|data: &[u8]| {
    // Adapters decode lossily, so the core only ever sees valid UTF-8.
    let text = String::from_utf8_lossy(data);
    let mut world = world();
    for (n, line) in text.split('\n').take(MAX_LINES).enumerate() {
        let caller = world.caller(SPEAKERS[n % SPEAKERS.len()]);
        let words = match words::split(line) {
            Ok(words) => words,
            Err(e) => {
                assert!(!e.to_string().is_empty(), "a silent refusal of {line:?}");
                continue;
            }
        };
        let command = match parse(&words, &world.settings.prefix) {
            Ok(Parsed::Run(command)) => command,
            Ok(Parsed::Help(help)) => {
                assert!(!help.is_empty(), "empty help for {line:?}");
                continue;
            }
            Err(e) => {
                assert!(!e.to_string().is_empty(), "a silent refusal of {line:?}");
                continue;
            }
        };
        match world.with_context(&caller, |ctx, state| handle(&command, ctx, state)) {
            Ok(outcome) => {
                let actor = world.actor(&caller);
                world.record(actor, outcome);
                world.check_views_round_trip();
            }
            Err(e) => assert!(!e.to_string().is_empty(), "a silent refusal of {line:?}"),
        }
        // Time passes between messages; timers that come due fire.
        world.advance(Duration::minutes(37 * (n as i64 + 1)));
    }
});

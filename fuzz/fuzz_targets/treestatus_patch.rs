//! `PATCH /trees` bodies: the JSON the HTTP handler decodes (the same
//! `serde_json::from_slice` into the core's `Patch`), then the core's
//! `treestatus::patch` as a sheriff, as a person without roles and as a
//! guest, and the outcome recorded and checked as the ledger would.

#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use signalbox_commands::treestatus::{Patch, patch};
use signalbox_fuzz::{World, example_config};

/// Built once: compiling the config's patterns costs more than a run.
fn world() -> World {
    static WORLD: OnceLock<World> = OnceLock::new();
    WORLD.get_or_init(|| World::new(&example_config())).clone()
}

fuzz_target!(|data: &[u8]| {
    let Ok(body) = serde_json::from_slice::<Patch>(data) else {
        return;
    };
    let mut world = world();
    for who in ["alice", "bob", "mallory"] {
        let caller = world.caller(who);
        match world.with_context(&caller, |ctx, state| patch(ctx, &state.trees, &body)) {
            Ok(outcome) => {
                assert!(!outcome.reply.is_empty(), "a silent success for {body:?}");
                let actor = world.actor(&caller);
                world.record(actor, outcome);
                world.check_views_round_trip();
            }
            Err(e) => assert!(!e.to_string().is_empty(), "a silent refusal of {body:?}"),
        }
    }
});

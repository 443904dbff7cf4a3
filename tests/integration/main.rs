//! Integration tests: the real bot, in-process (with an injected clock) or as
//! the built binary, on sled in temporary directories and HTTP on
//! 127.0.0.1:0. One binary, a module per area.

mod common;
#[cfg(feature = "discord")]
mod discord;
mod durability;
mod export;
#[cfg(feature = "discord")]
mod fake_discord;
mod http;
mod ledger;
mod malformed;
mod scheduler;
mod trees;

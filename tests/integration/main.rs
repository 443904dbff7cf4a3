//! Integration tests: the real bot, in-process (with an injected clock) or as
//! the built binary, on sled in temporary directories and HTTP on
//! 127.0.0.1:0. One binary, a module per area.

mod common;
mod durability;
mod export;
mod http;
#[cfg(feature = "irc")]
mod irc;
#[cfg(feature = "irc")]
mod irc_client;
mod ledger;
mod malformed;
mod scheduler;
mod trees;

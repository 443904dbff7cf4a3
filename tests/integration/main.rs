//! Integration tests: the real bot, in-process (with an injected clock) or as
//! the built binary, on sled in temporary directories and HTTP on
//! 127.0.0.1:0. One binary, a module per area.

mod abuse;
mod board;
mod calendar;
mod common;
mod crash;
mod deploylog;
#[cfg(feature = "discord")]
mod discord;
mod durability;
mod escalation;
mod export;
#[cfg(feature = "discord")]
mod fake_discord;
#[cfg(feature = "slack")]
mod fake_slack;
mod faults;
mod http;
#[cfg(feature = "irc")]
mod irc;
#[cfg(feature = "irc")]
mod irc_client;
mod ledger;
mod loaner;
mod malformed;
#[cfg(feature = "matrix")]
mod matrix;
#[cfg(feature = "matrix")]
mod matrix_client;
mod meeting;
mod oncall;
mod openapi;
mod readonly;
mod scheduler;
#[cfg(feature = "slack")]
mod slack;
mod stats;
mod train;
mod trees;
mod treestatus;
mod window;

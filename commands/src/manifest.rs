//! Manifests for the networks with native commands, generated from the same
//! clap definitions that parse chat text, so a slash command can never offer
//! an option the grammar does not take.

pub mod discord;

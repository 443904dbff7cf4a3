//! Newtype identifiers. A bare `String` could be a nick, a Slack id or a
//! channel; these types keep a person from being confused with a handle and a
//! channel address from being confused with free text.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::Error;

/// A chat network the bot can be on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Network {
    Console,
    Irc,
    Matrix,
    Slack,
    Discord,
    Http,
    Scheduler,
}

impl Network {
    pub const ALL: [Network; 7] = [
        Network::Console,
        Network::Irc,
        Network::Matrix,
        Network::Slack,
        Network::Discord,
        Network::Http,
        Network::Scheduler,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Network::Console => "console",
            Network::Irc => "irc",
            Network::Matrix => "matrix",
            Network::Slack => "slack",
            Network::Discord => "discord",
            Network::Http => "http",
            Network::Scheduler => "scheduler",
        }
    }
}

impl fmt::Display for Network {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Network {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self, Error> {
        Network::ALL
            .into_iter()
            .find(|n| n.as_str() == s)
            .ok_or_else(|| {
                Error::invalid(format!(
                    "network \"{s}\" is unknown; networks are: console, irc, matrix, slack, discord"
                ))
            })
    }
}

macro_rules! string_id {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(String);

        impl $name {
            pub fn new(s: impl Into<String>) -> Self {
                Self(s.into())
            }

            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }
    };
}

string_id!(
    /// A canonical person: the key of a `[people.NAME]` table.
    PersonId
);
string_id!(
    /// A user as one network knows them: IRC services account, Slack `U…` id,
    /// Matrix id, Discord snowflake, or the console's person name.
    PlatformUserId
);
string_id!(
    /// A tree (code repository whose landings the sheriffs gate).
    TreeName
);

/// Where a message can be sent: `irc:#releng`, `matrix:!room:example.org`,
/// `slack:C0123`, `discord:1234`, `console:#ops`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct ChannelAddr {
    network: Network,
    channel: String,
}

impl ChannelAddr {
    pub fn new(network: Network, channel: impl Into<String>) -> Self {
        Self {
            network,
            channel: channel.into(),
        }
    }

    pub fn network(&self) -> Network {
        self.network
    }

    pub fn channel(&self) -> &str {
        &self.channel
    }
}

impl fmt::Display for ChannelAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.network, self.channel)
    }
}

impl FromStr for ChannelAddr {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self, Error> {
        let bad = || {
            Error::invalid(format!(
                "channel address \"{s}\" is malformed; use network:channel, e.g. irc:#releng, matrix:#releng:example.org, slack:C0123, discord:123456789012345678, console:#ops"
            ))
        };
        let (network, channel) = s.split_once(':').ok_or_else(bad)?;
        let network: Network = network.parse().map_err(|_| bad())?;
        let ok = match network {
            Network::Irc | Network::Console => {
                channel.len() > 1 && (channel.starts_with('#') || channel.starts_with('&'))
            }
            // Aliases always name their server; room ids did until room
            // version 12, whose ids are `!` and an opaque hash.
            Network::Matrix => match channel.split_at_checked(1) {
                Some(("#", rest)) => rest
                    .split_once(':')
                    .is_some_and(|(l, s)| !l.is_empty() && !s.is_empty()),
                Some(("!", rest)) => !rest.is_empty() && !rest.starts_with(':'),
                _ => false,
            },
            Network::Slack => {
                channel.len() > 1 && channel.chars().all(|c| c.is_ascii_alphanumeric())
            }
            Network::Discord => !channel.is_empty() && channel.chars().all(|c| c.is_ascii_digit()),
            Network::Http | Network::Scheduler => false,
        };
        if !ok || channel.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(bad());
        }
        Ok(Self::new(network, channel))
    }
}

impl TryFrom<String> for ChannelAddr {
    type Error = Error;

    fn try_from(s: String) -> Result<Self, Error> {
        s.parse()
    }
}

impl From<ChannelAddr> for String {
    fn from(addr: ChannelAddr) -> String {
        addr.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn channel_addresses_parse_per_network() {
        for good in [
            "irc:#releng",
            "matrix:#releng:example.org",
            "matrix:!abc:example.org",
            "matrix:!xrr2sd3zHGMgrgAMum31V1ozpGUR83BIpKfnnKUekSw",
            "slack:C0123",
            "discord:123456789012345678",
            "console:#ops",
        ] {
            let addr: ChannelAddr = good.parse().expect(good);
            assert_eq!(addr.to_string(), good);
        }
        for bad in [
            "releng",
            "irc:releng",
            "matrix:#releng",
            "matrix:!",
            "matrix:#:example.org",
            "slack:",
            "discord:abc",
            "smtp:#x",
            "irc:#a b",
        ] {
            let err = bad.parse::<ChannelAddr>().expect_err(bad).to_string();
            assert!(err.contains(&format!("\"{bad}\"")), "{err}");
        }
    }
}

//! Who is speaking. A message arrives with a network and that network's id
//! for the sender (IRC services account, Slack `U…` id, Matrix id, Discord
//! snowflake); the directory maps it to a canonical person with static roles.
//! Nicks and display names never enter here.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use signalbox_commands::{Caller, Network, PersonId, PlatformUserId, Role};

use crate::config::Config;

#[derive(Debug, Clone, Default)]
pub struct Directory {
    by_handle: HashMap<(Network, String), PersonId>,
    handles: BTreeMap<PersonId, Vec<(Network, PlatformUserId)>>,
    roles: BTreeMap<PersonId, BTreeSet<Role>>,
    tokens: HashMap<String, PersonId>,
    display: HashMap<PersonId, String>,
}

impl Directory {
    pub fn from_config(config: &Config) -> Self {
        let mut dir = Directory::default();
        for (name, person) in &config.people {
            let id = PersonId::new(name);
            let mut handles = vec![(Network::Console, PlatformUserId::new(name))];
            for (network, handle) in [
                (Network::Irc, &person.irc),
                (Network::Matrix, &person.matrix),
                (Network::Slack, &person.slack),
                (Network::Discord, &person.discord),
            ] {
                if let Some(h) = handle {
                    handles.push((network, PlatformUserId::new(h.get_ref())));
                }
            }
            for (network, handle) in &handles {
                dir.by_handle.insert(
                    (*network, handle_key(*network, handle.as_str())),
                    id.clone(),
                );
            }
            if let Some(token) = &person.api_token {
                dir.tokens.insert(token.expose().to_string(), id.clone());
            }
            if let Some(display) = person.display.as_ref().filter(|d| !d.trim().is_empty()) {
                dir.display.insert(id.clone(), display.clone());
            }
            dir.handles.insert(id.clone(), handles);
            dir.roles.insert(id, person.roles.iter().copied().collect());
        }
        dir
    }

    /// The person behind a network's user id, if any.
    pub fn person(&self, network: Network, user: &PlatformUserId) -> Option<&PersonId> {
        self.by_handle
            .get(&(network, handle_key(network, user.as_str())))
    }

    /// The caller for a message: person and roles held now. `duty` is the
    /// seam for roles granted by rotations to whoever is on shift.
    pub fn caller(&self, network: Network, user: &PlatformUserId, duty: &[Role]) -> Caller {
        match self.person(network, user) {
            Some(person) => {
                let roles = self
                    .roles
                    .get(person)
                    .into_iter()
                    .flatten()
                    .copied()
                    .chain(duty.iter().copied());
                Caller {
                    handle: user.to_string(),
                    person: Some(person.clone()),
                    roles: roles.collect(),
                }
            }
            None => Caller::guest(user.as_str()),
        }
    }

    /// A known person as a caller (for HTTP, where a token names the person).
    pub fn caller_for(&self, person: &PersonId, duty: &[Role]) -> Caller {
        let roles = self
            .roles
            .get(person)
            .into_iter()
            .flatten()
            .copied()
            .chain(duty.iter().copied());
        Caller {
            handle: person.to_string(),
            person: Some(person.clone()),
            roles: roles.collect(),
        }
    }

    /// Where a person can be reached directly, per network.
    pub fn handles(&self, person: &PersonId) -> &[(Network, PlatformUserId)] {
        self.handles.get(person).map_or(&[], Vec::as_slice)
    }

    /// The person's handle on one network, if they have one.
    pub fn handle(&self, person: &PersonId, network: Network) -> Option<&PlatformUserId> {
        self.handles(person)
            .iter()
            .find(|(n, _)| *n == network)
            .map(|(_, h)| h)
    }

    /// The name shown for a person in messages: their configured `display`
    /// name, else their `[people]` key. Never used to identify anyone.
    pub fn display(&self, person: &PersonId) -> String {
        self.display
            .get(person)
            .cloned()
            .unwrap_or_else(|| person.to_string())
    }

    /// The person an HTTP bearer token belongs to.
    pub fn by_token(&self, token: &str) -> Option<&PersonId> {
        self.tokens.get(token)
    }
}

/// IRC accounts are case-insensitive (rfc1459 casemapping); other networks'
/// ids are exact.
fn handle_key(network: Network, handle: &str) -> String {
    match network {
        Network::Irc => handle
            .chars()
            .map(|c| match c {
                '[' => '{',
                ']' => '}',
                '\\' => '|',
                '~' => '^',
                c => c.to_ascii_lowercase(),
            })
            .collect(),
        _ => handle.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn maps_handles_to_people_and_roles() {
        let text = "[people.alice]\nroles = [\"sheriff\"]\nirc = \"Alice[m]\"\nslack = \"U1\"\n[people.bob]\n";
        let config = Config::from_text(text, "t", &HashMap::new(), None).expect("config");
        let dir = Directory::from_config(&config);
        let alice = dir.caller(Network::Irc, &PlatformUserId::new("alice{M}"), &[]);
        assert_eq!(alice.person, Some(PersonId::new("alice")));
        assert!(alice.has(Role::Sheriff));
        let slack_wrong_case = dir.caller(Network::Slack, &PlatformUserId::new("u1"), &[]);
        assert_eq!(slack_wrong_case.person, None);
        let bob = dir.caller(
            Network::Console,
            &PlatformUserId::new("bob"),
            &[Role::Ciduty],
        );
        assert!(bob.has(Role::Ciduty) && !bob.has(Role::Sheriff));
        let nick_only = dir.caller(Network::Irc, &PlatformUserId::new("bob"), &[]);
        assert_eq!(nick_only.person, None, "bob has no irc account configured");
    }
}

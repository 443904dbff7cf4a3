//! Roles and who may run what. Static roles come from config; duty roles are
//! granted by rotations to whoever is on shift. Every command variant declares
//! a [`Permit`] in an exhaustive `match`, so a new variant without a permit
//! does not compile.

use std::collections::BTreeSet;
use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::Error;
use crate::error::Need;
use crate::id::PersonId;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Passes every role check.
    Admin,
    /// Opens and closes trees.
    Sheriff,
    /// Runs the deployment train.
    Conductor,
    /// Deploys in windows and writes the deploy log.
    Deployer,
    /// On CI duty: decides loaner requests.
    Ciduty,
    /// On shift in any rotation (granted by rotations, not configured).
    Duty,
}

impl Role {
    pub const ALL: [Role; 6] = [
        Role::Admin,
        Role::Sheriff,
        Role::Conductor,
        Role::Deployer,
        Role::Ciduty,
        Role::Duty,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::Sheriff => "sheriff",
            Role::Conductor => "conductor",
            Role::Deployer => "deployer",
            Role::Ciduty => "ciduty",
            Role::Duty => "duty",
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Role {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self, Error> {
        Role::ALL
            .into_iter()
            .find(|r| r.as_str() == s)
            .ok_or_else(|| {
                let known: Vec<&str> = Role::ALL.iter().map(|r| r.as_str()).collect();
                Error::invalid(format!(
                    "role \"{s}\" is unknown; roles are: {}",
                    known.join(", ")
                ))
            })
    }
}

/// Who may run a command.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Permit {
    Anyone,
    /// Any known person (not an unidentified guest).
    Identified,
    /// A known person holding this role (or admin).
    Role(Role),
    /// A known person holding any one of these roles (or admin).
    AnyRole(&'static [Role]),
}

/// The caller as the core sees them: who, and which roles they hold right now
/// (static roles plus duty roles, already merged by the shell).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    pub person: Option<PersonId>,
    /// How the network knows them, for messages (`alice`, `U024BE7LH`).
    pub handle: String,
    pub roles: BTreeSet<Role>,
}

impl Caller {
    pub fn guest(handle: impl Into<String>) -> Self {
        Self {
            person: None,
            handle: handle.into(),
            roles: BTreeSet::new(),
        }
    }

    pub fn person(person: PersonId, roles: impl IntoIterator<Item = Role>) -> Self {
        Self {
            handle: person.to_string(),
            person: Some(person),
            roles: roles.into_iter().collect(),
        }
    }

    pub fn has(&self, role: Role) -> bool {
        self.person.is_some() && (self.roles.contains(&role) || self.roles.contains(&Role::Admin))
    }

    /// The name to show in replies, logs and the audit trail.
    pub fn name(&self) -> &str {
        self.person.as_ref().map_or(&self.handle, |p| p.as_str())
    }

    /// Checks a permit; `action` names the command for the refusal message.
    pub fn check(&self, permit: Permit, action: &str) -> Result<(), Error> {
        let refuse = |need: Need| {
            let who = match &self.person {
                // A guest asked for a role: say what would make them eligible.
                None if matches!(need, Need::Role(_)) => format!(
                    "\"{}\" is not an identified person; an identified account is needed",
                    self.handle
                ),
                None => format!("\"{}\" is not an identified person", self.handle),
                Some(p) if self.roles.is_empty() => format!("{p} holds no role"),
                Some(p) => format!(
                    "{p} holds {}",
                    self.roles
                        .iter()
                        .map(|r| r.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            };
            Err(Error::Permission {
                action: action.to_string(),
                need,
                who,
            })
        };
        match permit {
            Permit::Anyone => Ok(()),
            Permit::Identified if self.person.is_some() => Ok(()),
            Permit::Identified => refuse(Need::Identified),
            Permit::Role(role) if self.has(role) => Ok(()),
            Permit::Role(role) => refuse(Need::Role(vec![role])),
            Permit::AnyRole(roles) if roles.iter().any(|r| self.has(*r)) => Ok(()),
            Permit::AnyRole(roles) => refuse(Need::Role(roles.to_vec())),
        }
    }

    /// The refusal for a handler-level check ("the requester or ciduty"):
    /// `action` needs `role`, and `why` says why the caller is not exempt.
    pub fn refuse(&self, action: &str, role: Role, why: &str) -> Error {
        let roles = if self.roles.is_empty() {
            "holds no role".to_string()
        } else {
            format!(
                "holds {}",
                self.roles
                    .iter()
                    .map(|r| r.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        };
        Error::Permission {
            action: action.to_string(),
            need: Need::Role(vec![role]),
            who: format!("{} {why} and {roles}", self.name()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn admin_passes_every_role_and_guests_pass_none() {
        let admin = Caller::person(PersonId::new("alice"), [Role::Admin]);
        let bob = Caller::person(PersonId::new("bob"), []);
        let guest = Caller::guest("mallory");
        for role in Role::ALL {
            assert!(admin.check(Permit::Role(role), "x").is_ok());
            let err = bob
                .check(Permit::Role(role), "tree close")
                .expect_err("bob has no role");
            assert_eq!(
                err.to_string(),
                format!("tree close needs role \"{role}\"; bob holds no role")
            );
        }
        assert!(bob.check(Permit::Identified, "x").is_ok());
        let err = guest
            .check(Permit::Identified, "loaner request")
            .expect_err("guest");
        assert_eq!(
            err.to_string(),
            "loaner request needs an identified account; \"mallory\" is not an identified person"
        );
    }

    #[test]
    fn unknown_role_names_the_known_ones() {
        let err = "janitor".parse::<Role>().expect_err("unknown");
        assert!(
            err.to_string()
                .starts_with("role \"janitor\" is unknown; roles are: admin, sheriff")
        );
    }
}

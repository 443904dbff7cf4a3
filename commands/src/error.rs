//! One error type for every stage a command passes through, in the order the
//! router runs them: usage (parse), permission, not found, conflict, invalid
//! input. Every message is lowercase and quotes what the user typed, because it
//! is shown to them verbatim in chat.

use crate::role::Role;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// The words do not fit the grammar; the text is the usage to show.
    #[error("{0}")]
    Usage(String),
    /// The caller lacks a role (or an identified account).
    #[error("{action} needs {need}; {who}")]
    Permission {
        action: String,
        need: Need,
        who: String,
    },
    /// Something named does not exist.
    #[error("{0}")]
    NotFound(String),
    /// The state is not as the command assumes (e.g. undo after a later change).
    #[error("{0}")]
    Conflict(String),
    /// Well-formed words with a bad value (a duration, a tag, a time).
    #[error("{0}")]
    Invalid(String),
}

/// What a refused caller would have needed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Need {
    /// An identified account (a known person), not a guest.
    Identified,
    /// Any one of these roles.
    Role(Vec<Role>),
}

impl std::fmt::Display for Need {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Need::Identified => f.write_str("an identified account"),
            Need::Role(roles) => {
                let names: Vec<String> = roles.iter().map(|r| format!("role \"{r}\"")).collect();
                f.write_str(&names.join(" or "))
            }
        }
    }
}

impl Error {
    pub fn invalid(msg: impl Into<String>) -> Self {
        Error::Invalid(msg.into())
    }

    pub fn not_found(msg: impl Into<String>) -> Self {
        Error::NotFound(msg.into())
    }

    pub fn conflict(msg: impl Into<String>) -> Self {
        Error::Conflict(msg.into())
    }

    /// A short, stable name of the failure stage (for metrics and logs).
    pub fn stage(&self) -> &'static str {
        match self {
            Error::Usage(_) => "usage",
            Error::Permission { .. } => "permission",
            Error::NotFound(_) => "not_found",
            Error::Conflict(_) => "conflict",
            Error::Invalid(_) => "invalid",
        }
    }
}

//! Pure product logic: no I/O, no clock, no randomness that is not passed in.
//!
//! Everything a user can do to a room is a [`room::Command`] first; [`room::apply`] decides,
//! from the current [`room::RoomState`] and who is asking, which [`room::Event`]s follow, and
//! [`room::RoomState::fold`] applies them. The room actor stores those events before anyone
//! hears of them, so this module is the single place where the rules live. Breakout sessions,
//! content, invitations and meetings each have their own module of commands and folds.

pub mod activity;
pub mod breakout;
pub mod call;
pub mod content;
pub mod event;
pub mod invitation;
pub mod meeting;
pub mod plan;
pub mod recording;
pub mod report;
pub mod room;
pub mod roster;
pub mod rotation;
#[cfg(test)]
mod testkit;
pub mod validate;

pub use room::Role;

/// Why a command was refused. Each variant maps to one HTTP status in `http::error`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DomainError {
    /// Input that breaks a rule of its field; the field is named.
    #[error("{field}: {message}")]
    Invalid {
        /// The request field at fault, as the client spelled it.
        field: &'static str,
        /// What is wrong with it.
        message: String,
    },
    /// The caller may see the thing but may not do this to it.
    #[error("{0}")]
    Forbidden(&'static str),
    /// The thing does not exist, or the caller may not know that it does.
    #[error("{0} not found")]
    NotFound(&'static str),
    /// The request is well formed but clashes with the current state.
    #[error("{message}")]
    Conflict {
        /// A stable machine-readable code.
        code: &'static str,
        /// What clashed.
        message: String,
    },
}

impl DomainError {
    /// Shorthand for [`DomainError::Invalid`].
    pub fn invalid(field: &'static str, message: impl Into<String>) -> Self {
        Self::Invalid {
            field,
            message: message.into(),
        }
    }

    /// Shorthand for [`DomainError::Conflict`].
    pub fn conflict(code: &'static str, message: impl Into<String>) -> Self {
        Self::Conflict {
            code,
            message: message.into(),
        }
    }
}

//! A breakout session's configuration: how people get into rooms, the round's length and
//! countdown, what participants may do; its changes and its limits.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::domain::DomainError;

/// How people get into breakout rooms.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Mode {
    /// Huddle distributes the unassigned participants evenly at random when a round starts.
    #[default]
    Automatic,
    /// Moderators place people.
    Manual,
    /// Participants choose their rooms.
    Free,
}

/// Settings of a main room's breakout rooms; all may change while a round runs.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BreakoutConfig {
    /// Breakout rooms enabled for this main room (the setting seed 001 puts in a meeting's options).
    #[serde(default)]
    pub enabled: bool,
    /// How people get into rooms.
    #[serde(default)]
    pub mode: Mode,
    /// Participants may move between breakout rooms while a round runs.
    #[serde(default)]
    pub free_movement: bool,
    /// Participants may go back to the main room on their own.
    #[serde(default = "yes")]
    pub return_to_main: bool,
    /// Participants may broadcast to all rooms, not only moderators.
    #[serde(default)]
    pub everyone_broadcasts: bool,
    /// Length of a round in seconds; the rooms then close after the countdown. None: no timer.
    #[serde(default)]
    #[schema(minimum = 1, maximum = 86_400)]
    pub duration_secs: Option<u32>,
    /// Seconds between "time is up" and the rooms closing.
    #[serde(default = "default_countdown")]
    #[schema(maximum = 600)]
    pub countdown_secs: u32,
    /// Participants may promote their breakout room's content to the main room (owners and
    /// moderators always may).
    #[serde(default = "yes")]
    pub participants_promote: bool,
}

pub(super) fn yes() -> bool {
    true
}

/// Some of the settings: what is left out keeps its value (`duration_secs: null` removes the
/// timer; leaving it out keeps it).
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize, ToSchema, serde::Serialize)]
#[serde(deny_unknown_fields)]
pub struct ConfigChanges {
    /// Breakout rooms enabled.
    pub enabled: Option<bool>,
    /// How people get into rooms.
    pub mode: Option<Mode>,
    /// Participants may move between breakout rooms while a round runs.
    pub free_movement: Option<bool>,
    /// Participants may go back to the main room on their own.
    pub return_to_main: Option<bool>,
    /// Participants may broadcast.
    pub everyone_broadcasts: Option<bool>,
    /// Length of a round in seconds; `null`: no timer.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<u32>, minimum = 1, maximum = 86_400)]
    pub duration_secs: Option<Option<u32>>,
    /// Seconds between "time is up" and the rooms closing.
    #[schema(maximum = 600)]
    pub countdown_secs: Option<u32>,
    /// Participants may promote their room's content.
    pub participants_promote: Option<bool>,
}

/// A field that is present (perhaps `null`) rather than left out.
pub(super) fn present<'de, D: serde::Deserializer<'de>>(
    d: D,
) -> Result<Option<Option<u32>>, D::Error> {
    Option::<u32>::deserialize(d).map(Some)
}

impl ConfigChanges {
    /// `config` with these changes.
    pub fn over(self, config: &BreakoutConfig) -> BreakoutConfig {
        let c = config.clone();
        BreakoutConfig {
            enabled: self.enabled.unwrap_or(c.enabled),
            mode: self.mode.unwrap_or(c.mode),
            free_movement: self.free_movement.unwrap_or(c.free_movement),
            return_to_main: self.return_to_main.unwrap_or(c.return_to_main),
            everyone_broadcasts: self.everyone_broadcasts.unwrap_or(c.everyone_broadcasts),
            duration_secs: self.duration_secs.unwrap_or(c.duration_secs),
            countdown_secs: self.countdown_secs.unwrap_or(c.countdown_secs),
            participants_promote: self.participants_promote.unwrap_or(c.participants_promote),
        }
    }
}

pub(super) fn default_countdown() -> u32 {
    60
}

impl Default for BreakoutConfig {
    fn default() -> Self {
        BreakoutConfig {
            enabled: false,
            mode: Mode::Automatic,
            free_movement: false,
            return_to_main: true,
            everyone_broadcasts: false,
            duration_secs: None,
            countdown_secs: default_countdown(),
            participants_promote: true,
        }
    }
}

/// Longest round: one day.
pub const MAX_DURATION_SECS: u32 = 86_400;
/// Longest countdown: ten minutes.
pub const MAX_COUNTDOWN_SECS: u32 = 600;

impl BreakoutConfig {
    /// Checks the ranges.
    pub fn validate(&self) -> Result<(), DomainError> {
        if let Some(d) = self.duration_secs
            && (d == 0 || d > MAX_DURATION_SECS)
        {
            return Err(DomainError::invalid(
                "duration_secs",
                format!("must be between 1 and {MAX_DURATION_SECS} seconds, or null for no timer"),
            ));
        }
        if self.countdown_secs > MAX_COUNTDOWN_SECS {
            return Err(DomainError::invalid(
                "countdown_secs",
                format!("must be between 0 and {MAX_COUNTDOWN_SECS} seconds"),
            ));
        }
        Ok(())
    }
}

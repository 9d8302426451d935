//! Validation of user-supplied text: names, emails, passwords, chat messages.
//!
//! Each function returns the normalised value (trimmed, lower-cased where that is the rule) or a
//! [`DomainError::Invalid`] naming the field, so handlers never store unnormalised input.

use super::DomainError;

/// Longest room or display name, in characters.
pub const MAX_NAME_CHARS: usize = 100;
/// Shortest accepted password, in characters.
pub const MIN_PASSWORD_CHARS: usize = 8;
/// Longest accepted password, in bytes (argon2 hashes anything, but a 1 MB password is an attack).
pub const MAX_PASSWORD_BYTES: usize = 1024;
/// Longest email address (RFC 5321 path limit).
pub const MAX_EMAIL_CHARS: usize = 254;

/// A room name or display name: trimmed, 1 to 100 characters, no control characters.
pub fn name(field: &'static str, raw: &str) -> Result<String, DomainError> {
    let value = raw.trim();
    if value.is_empty() {
        return Err(DomainError::invalid(field, "must not be empty"));
    }
    if value.chars().count() > MAX_NAME_CHARS {
        return Err(DomainError::invalid(
            field,
            format!("must be at most {MAX_NAME_CHARS} characters"),
        ));
    }
    if value.chars().any(char::is_control) {
        return Err(DomainError::invalid(
            field,
            "must not contain control characters",
        ));
    }
    Ok(value.to_owned())
}

/// An email address: trimmed and lower-cased, one `@` with text on both sides, no spaces.
pub fn email(raw: &str) -> Result<String, DomainError> {
    let value = raw.trim().to_lowercase();
    let bad = || DomainError::invalid("email", "must be an address like name@example.org");
    if value.chars().count() > MAX_EMAIL_CHARS {
        return Err(DomainError::invalid(
            "email",
            format!("must be at most {MAX_EMAIL_CHARS} characters"),
        ));
    }
    if value.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(bad());
    }
    match value.split_once('@') {
        Some((local, domain))
            if !local.is_empty() && !domain.is_empty() && !domain.contains('@') =>
        {
            Ok(value)
        }
        _ => Err(bad()),
    }
}

/// A new password: at least 8 characters, at most 1024 bytes. Not trimmed: spaces are characters.
pub fn password(raw: &str) -> Result<&str, DomainError> {
    if raw.chars().count() < MIN_PASSWORD_CHARS {
        return Err(DomainError::invalid(
            "password",
            format!("must be at least {MIN_PASSWORD_CHARS} characters"),
        ));
    }
    if raw.len() > MAX_PASSWORD_BYTES {
        return Err(DomainError::invalid(
            "password",
            format!("must be at most {MAX_PASSWORD_BYTES} bytes"),
        ));
    }
    Ok(raw)
}

/// A chat message: trimmed, not empty, at most `max_chars` characters. Newlines and tabs are text;
/// other control characters are refused.
pub fn message_text(raw: &str, max_chars: usize) -> Result<String, DomainError> {
    let value = raw.trim();
    if value.is_empty() {
        return Err(DomainError::invalid("text", "must not be empty"));
    }
    let count = value.chars().count();
    if count > max_chars {
        return Err(DomainError::invalid(
            "text",
            format!("is {count} characters; the limit is {max_chars}"),
        ));
    }
    if value
        .chars()
        .any(|c| c.is_control() && c != '\n' && c != '\t' && c != '\r')
    {
        return Err(DomainError::invalid(
            "text",
            "must not contain control characters",
        ));
    }
    Ok(value.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_trimmed_and_bounded() {
        assert_eq!(name("name", "  Maths  ").unwrap(), "Maths");
        assert!(name("name", "   ").is_err());
        assert!(name("name", &"x".repeat(101)).is_err());
        assert!(name("name", &"é".repeat(100)).is_ok());
        assert!(name("name", "a\u{7}b").is_err());
    }

    #[test]
    fn emails_are_normalised() {
        assert_eq!(email(" Ada@Example.ORG ").unwrap(), "ada@example.org");
        for bad in ["", "ada", "@x", "ada@", "a b@x", "a@b@c"] {
            assert!(email(bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn passwords_have_bounds() {
        assert!(password("short").is_err());
        assert!(password("long enough").is_ok());
        assert!(password(&"x".repeat(2000)).is_err());
    }

    #[test]
    fn message_text_keeps_newlines_and_counts_characters() {
        assert_eq!(message_text(" a\nb ", 10).unwrap(), "a\nb");
        assert!(message_text("", 10).is_err());
        assert!(message_text(&"é".repeat(10), 10).is_ok());
        assert!(message_text(&"é".repeat(11), 10).is_err());
        assert!(message_text("a\u{0}b", 10).is_err());
    }
}

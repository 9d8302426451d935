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

/// A content or meeting title: trimmed, 1 to 200 characters, no control characters.
pub fn title(field: &'static str, raw: &str) -> Result<String, DomainError> {
    bounded_line(field, raw, super::content::MAX_TITLE_CHARS)
}

fn bounded_line(field: &'static str, raw: &str, max: usize) -> Result<String, DomainError> {
    let value = raw.trim();
    if value.is_empty() {
        return Err(DomainError::invalid(field, "must not be empty"));
    }
    if value.chars().count() > max {
        return Err(DomainError::invalid(
            field,
            format!("must be at most {max} characters"),
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

/// An absolute `http://` or `https://` URL with a host, at most 2048 bytes, no spaces.
pub fn http_url(field: &'static str, raw: &str) -> Result<String, DomainError> {
    let url = raw.trim();
    let scheme_ok = url.starts_with("https://") || url.starts_with("http://");
    let host_ok = url
        .split_once("://")
        .is_some_and(|(_, rest)| !rest.is_empty() && !rest.starts_with('/'));
    if !scheme_ok
        || !host_ok
        || url.len() > 2048
        || url.chars().any(|c| c.is_whitespace() || c.is_control())
    {
        return Err(DomainError::invalid(
            field,
            "must be an http:// or https:// link",
        ));
    }
    Ok(url.to_owned())
}

/// Longest file name, in bytes (what common file systems allow).
pub const MAX_FILE_NAME_BYTES: usize = 255;

/// An uploaded file's name: a plain name, never a path. Names with `/`, `\`, control characters,
/// or that are `.` or `..`, are refused rather than cleaned, so the user sees what was wrong.
pub fn file_name(raw: &str) -> Result<String, DomainError> {
    let value = raw.trim();
    if value.is_empty() {
        return Err(DomainError::invalid(
            "file_name",
            "the file part needs a file name",
        ));
    }
    if value.contains('/')
        || value.contains('\\')
        || value == "."
        || value == ".."
        || value.chars().any(char::is_control)
    {
        return Err(DomainError::invalid(
            "file_name",
            format!("{value:?} is not a plain file name (no paths or control characters)"),
        ));
    }
    // `invoice\u{202E}fdp.exe` shows as "invoiceexe.pdf": the direction marks and overrides
    // that can disguise an extension have no place in a file name.
    if value.chars().any(is_bidi_control) {
        return Err(DomainError::invalid(
            "file_name",
            format!(
                "{value:?} contains a text-direction control character, which can disguise a file's type"
            ),
        ));
    }
    if value.len() > MAX_FILE_NAME_BYTES {
        return Err(DomainError::invalid(
            "file_name",
            format!("must be at most {MAX_FILE_NAME_BYTES} bytes"),
        ));
    }
    Ok(value.to_owned())
}

/// The Unicode characters that set or override the direction of text (marks, embeddings,
/// overrides and isolates).
fn is_bidi_control(c: char) -> bool {
    matches!(c, '\u{061C}' | '\u{200E}' | '\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}')
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
    fn file_names_are_plain_names() {
        assert_eq!(file_name(" report.pdf ").unwrap(), "report.pdf");
        for bad in ["../../etc/passwd", "a/b", "a\\b", "..", ".", "", "a\u{0}b"] {
            assert!(file_name(bad).is_err(), "{bad:?} accepted");
        }
        assert!(file_name(&"x".repeat(256)).is_err());
        for disguised in ["invoice\u{202E}fdp.exe", "a\u{2066}b.txt", "a\u{200F}.pdf"] {
            let e = file_name(disguised).unwrap_err().to_string();
            assert!(e.contains("text-direction"), "{e}");
        }
        assert_eq!(
            file_name("تقرير.pdf").unwrap(),
            "تقرير.pdf",
            "right-to-left text is fine"
        );
    }

    #[test]
    fn urls_are_absolute_http() {
        assert!(http_url("url", "https://example.org/a?b").is_ok());
        for bad in [
            "javascript:alert(1)",
            "https://",
            "http:///x",
            "ftp://x",
            "https://a b",
        ] {
            assert!(http_url("url", bad).is_err(), "{bad:?} accepted");
        }
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

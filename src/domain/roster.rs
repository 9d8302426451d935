//! The CSV pre-assignment format: `room_name,first_name,last_name,email`, one person per row.
//!
//! [`parse`] reads a whole file (UTF-8 with or without a byte-order mark, quoted fields, a header
//! row required, at most [`MAX_ROWS`] rows) and either returns every row, validated, or every
//! problem, each with its row number (the header is row 1) and column — never a part of the file.
//! [`write`] produces the same format, so an export imports back unchanged.
//!
//! An empty `room_name` means "in the main room, unassigned"; the names are informational (a
//! person's display name comes from their account, or a guest chooses it when they accept).

use serde::Serialize;
use utoipa::ToSchema;

use super::validate;

/// The header, in order.
pub const COLUMNS: [&str; 4] = ["room_name", "first_name", "last_name", "email"];
/// Most rows a file may have.
pub const MAX_ROWS: usize = 10_000;
/// Longest first or last name, in characters.
const MAX_NAME_PART: usize = 100;

/// One valid row.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Row {
    /// The row's number in the file (the header is 1).
    pub line: usize,
    /// The breakout room's name; `None` for "unassigned".
    pub room: Option<String>,
    /// First name (may be empty).
    pub first_name: String,
    /// Last name (may be empty).
    pub last_name: String,
    /// Lower-cased email.
    pub email: String,
}

/// One problem in a file.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, ToSchema)]
pub struct RowError {
    /// The row's number (the header is 1); 0 for the file as a whole.
    pub row: usize,
    /// The column at fault, if one is.
    pub column: Option<&'static str>,
    /// What is wrong.
    pub message: String,
}

impl RowError {
    /// A problem in a row (`row` 0: the whole file).
    pub fn new(row: usize, column: Option<&'static str>, message: impl Into<String>) -> RowError {
        RowError {
            row,
            column,
            message: message.into(),
        }
    }
}

/// Reads a whole file: all its rows, or all its problems.
pub fn parse(bytes: &[u8]) -> Result<Vec<Row>, Vec<RowError>> {
    match read(bytes) {
        Ok((rows, errors)) if errors.is_empty() => Ok(rows),
        Ok((_, errors)) => Err(errors),
        Err(whole) => Err(vec![whole]),
    }
}

/// Reads a file: its good rows and the problems of the others, so that a caller can check the
/// good rows further and report every problem at once; or the one problem of the whole file (not
/// text, no header, too many rows).
pub fn read(bytes: &[u8]) -> Result<(Vec<Row>, Vec<RowError>), RowError> {
    let whole = |message: &str| RowError::new(0, None, message);
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    if bytes.contains(&0) {
        return Err(whole(
            "this is not a CSV text file (it contains binary data)",
        ));
    }
    if std::str::from_utf8(bytes).is_err() {
        return Err(whole("the file must be UTF-8 text"));
    }
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(true)
        .flexible(true)
        .from_reader(bytes);
    let header: Vec<String> = match reader.headers() {
        Ok(h) => h.iter().map(|c| c.trim().to_ascii_lowercase()).collect(),
        Err(e) => return Err(whole(&format!("the header row cannot be read: {e}"))),
    };
    if header != COLUMNS {
        return Err(RowError::new(
            1,
            None,
            format!(
                "the header must be {} (found {})",
                COLUMNS.join(","),
                if header.iter().all(String::is_empty) {
                    "nothing".to_owned()
                } else {
                    header.join(",")
                }
            ),
        ));
    }
    let mut rows = Vec::new();
    let mut errors = Vec::new();
    let mut seen: std::collections::HashMap<String, usize> = Default::default();
    for (i, record) in reader.records().enumerate() {
        let line = i + 2;
        if rows.len() + errors.len() >= MAX_ROWS {
            return Err(whole(&format!("a file may have at most {MAX_ROWS} rows")));
        }
        let record = match record {
            Ok(r) => r,
            Err(e) => {
                errors.push(RowError::new(line, None, format!("cannot be read: {e}")));
                continue;
            }
        };
        if record.len() != COLUMNS.len() {
            errors.push(RowError::new(
                line,
                None,
                format!(
                    "has {} fields; every row has 4: {}",
                    record.len(),
                    COLUMNS.join(",")
                ),
            ));
            continue;
        }
        let mut bad = |column: &'static str, message: String| {
            errors.push(RowError::new(line, Some(column), message));
        };
        let room = unescaped(record[0].trim());
        let room = if room.is_empty() {
            None
        } else {
            match validate::name("room_name", room) {
                Ok(r) => Some(r),
                Err(e) => {
                    bad("room_name", strip(e.to_string()));
                    None
                }
            }
        };
        let mut part = |column: &'static str, raw: &str| {
            let value = unescaped(raw.trim());
            if value.chars().count() > MAX_NAME_PART {
                bad(
                    column,
                    format!("must be at most {MAX_NAME_PART} characters"),
                );
            } else if value.chars().any(char::is_control) {
                bad(column, "must not contain control characters".to_owned());
            }
            value.to_owned()
        };
        let first_name = part("first_name", &record[1]);
        let last_name = part("last_name", &record[2]);
        let email = match validate::email(&record[3]) {
            Ok(email) => {
                if let Some(first) = seen.insert(email.clone(), line) {
                    errors.push(RowError::new(
                        line,
                        Some("email"),
                        format!("{email} is already on row {first}"),
                    ));
                }
                email
            }
            Err(e) => {
                errors.push(RowError::new(line, Some("email"), strip(e.to_string())));
                String::new()
            }
        };
        if errors.last().is_none_or(|e| e.row != line) {
            rows.push(Row {
                line,
                room,
                first_name,
                last_name,
                email,
            });
        }
    }
    Ok((rows, errors))
}

/// A validation message without the `field: ` prefix (the column says which).
fn strip(message: String) -> String {
    match message.split_once(": ") {
        Some((_, rest)) => rest.to_owned(),
        None => message,
    }
}

/// Splits a display name into first and last name at its last space.
pub fn split_name(display_name: &str) -> (String, String) {
    match display_name.trim().rsplit_once(' ') {
        Some((first, last)) => (first.trim().to_owned(), last.to_owned()),
        None => (display_name.trim().to_owned(), String::new()),
    }
}

/// Writes rows (room name or empty, first, last, email) as a file with the header; a cell a
/// spreadsheet would run as a formula is written as text ([`spreadsheet_safe`]).
pub fn write<'a>(rows: impl IntoIterator<Item = [&'a str; 4]>) -> Vec<u8> {
    let mut writer = csv::Writer::from_writer(Vec::new());
    // Writing to memory cannot fail.
    let _ = writer.write_record(COLUMNS);
    for row in rows {
        let _ = writer.write_record(row.map(|cell| spreadsheet_safe(cell).into_owned()));
    }
    writer.into_inner().unwrap_or_default()
}

/// What makes a spreadsheet read a cell as a formula (OWASP's list for CSV injection).
const FORMULA_START: [char; 6] = ['=', '+', '-', '@', '\t', '\r'];

/// A cell for a CSV file that people open in a spreadsheet: text that starts like a formula
/// (`=HYPERLINK(…)`, `+1`, `-2`, `@SUM`) gets a leading `'`, which spreadsheets show as text.
pub fn spreadsheet_safe(cell: &str) -> std::borrow::Cow<'_, str> {
    if cell.starts_with(FORMULA_START) {
        format!("'{cell}").into()
    } else {
        cell.into()
    }
}

/// A cell as written before [`spreadsheet_safe`]: a file Huddle exported reads back the same.
fn unescaped(cell: &str) -> &str {
    match cell.strip_prefix('\'') {
        Some(rest) if rest.starts_with(FORMULA_START) => rest,
        _ => cell,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cells_that_start_like_formulas_are_written_as_text_and_read_back_the_same() {
        let rows = [
            ["=HYPERLINK(\"http://x\")", "+1", "-Ann", "a@example.org"],
            ["Group A", "@Bob", "Smith", "b@example.org"],
        ];
        let file = String::from_utf8(write(rows)).unwrap();
        assert!(file.contains("'=HYPERLINK"), "{file}");
        assert!(file.contains("'+1,'-Ann"), "{file}");
        assert!(file.contains("'@Bob"), "{file}");
        assert!(file.contains("Group A,"), "{file}");
        let read = parse(file.as_bytes()).unwrap();
        assert_eq!(read[0].room.as_deref(), Some("=HYPERLINK(\"http://x\")"));
        assert_eq!(
            (read[0].first_name.as_str(), read[0].last_name.as_str()),
            ("+1", "-Ann")
        );
        assert_eq!(read[1].first_name, "@Bob");
    }

    #[test]
    fn a_valid_file_with_a_bom_quotes_and_blank_rooms_is_read() {
        let file = "\u{FEFF}Room_Name,first_name,last_name,email\r\n\
                    \"Team, Alpha\",Ada,Lovelace,ADA@example.org\r\n\
                    ,\"Grace \"\"G\"\"\",Hopper,grace@example.org\n";
        let rows = parse(file.as_bytes()).unwrap();
        assert_eq!(rows.len(), 2);
        assert_eq!(rows[0].room.as_deref(), Some("Team, Alpha"));
        assert_eq!(rows[0].email, "ada@example.org");
        assert_eq!(rows[0].line, 2);
        assert_eq!(rows[1].room, None);
        assert_eq!(rows[1].first_name, "Grace \"G\"");
    }

    #[test]
    fn every_bad_row_is_reported_with_its_column() {
        let file = "room_name,first_name,last_name,email\n\
                    A,Ada,L,ada@example.org\n\
                    B,Bob,B,not-an-email\n\
                    C,Cy\n\
                    D,Dee,D,ada@example.org\n";
        let errors = parse(file.as_bytes()).unwrap_err();
        let found: Vec<(usize, Option<&str>)> = errors.iter().map(|e| (e.row, e.column)).collect();
        assert_eq!(found, [(3, Some("email")), (4, None), (5, Some("email"))]);
        assert!(errors[2].message.contains("row 2"), "{:?}", errors[2]);
    }

    #[test]
    fn wrong_headers_and_binary_files_are_refused_whole() {
        let e = parse(b"name,email\nx,y@z.org\n").unwrap_err();
        assert_eq!((e[0].row, e.len()), (1, 1));
        assert!(
            e[0].message
                .contains("room_name,first_name,last_name,email")
        );
        assert_eq!(parse(b"\x89PNG\r\n\x1a\n\0\0\0").unwrap_err()[0].row, 0);
        assert_eq!(
            parse(b"room_name,first_name,last_name,email\n\xff\xfe,a,b,c\n").unwrap_err()[0].row,
            0
        );
        assert_eq!(parse(b"").unwrap_err()[0].row, 1);
    }

    #[test]
    fn written_files_read_back_the_same() {
        let bytes = write([
            ["Room 1", "Ada", "Lovelace", "ada@example.org"],
            ["", "", "", "x@y.org"],
        ]);
        let rows = parse(&bytes).unwrap();
        assert_eq!(rows[0].room.as_deref(), Some("Room 1"));
        assert_eq!(rows[1].room, None);
        assert_eq!(
            split_name("Mary Ann Smith"),
            ("Mary Ann".into(), "Smith".into())
        );
        assert_eq!(split_name("Plato"), ("Plato".into(), String::new()));
    }

    #[test]
    fn more_than_the_row_limit_is_refused() {
        let mut file = String::from("room_name,first_name,last_name,email\n");
        for i in 0..=MAX_ROWS {
            file.push_str(&format!("R,a,b,p{i}@x.org\n"));
        }
        let e = parse(file.as_bytes()).unwrap_err();
        assert!(e[0].message.contains("10000"), "{e:?}");
    }
}

//! The CSV pre-assignment file (`POST …/breakout/assignments.csv`): any bytes are read into rows
//! and problems, never a panic; what it reads writes back and reads again the same.
#![no_main]

use huddle::domain::roster;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|bytes: &[u8]| {
    if let Ok((rows, _problems)) = roster::read(bytes) {
        let written = roster::write(rows.iter().map(|r| {
            [
                r.room.as_deref().unwrap_or(""),
                r.first_name.as_str(),
                r.last_name.as_str(),
                r.email.as_str(),
            ]
        }));
        let (again, problems) = roster::read(&written).expect("what was written reads back");
        assert!(problems.is_empty(), "{problems:?}");
        assert_eq!(again.len(), rows.len());
    }
});

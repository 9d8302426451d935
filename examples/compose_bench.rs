//! Composing benchmark (see docs/benchmarks.md): how long ffmpeg takes to compose a recording
//! with Huddle's command ([`huddle::recording::compose::plan`]), per minute recorded.
//!
//! For each number of people, it makes the raw files a recording of `--seconds` would have (per
//! person: a tone as Opus in Ogg and a moving 640×480 test picture as VP8 in WebM, which is what
//! Chromium's top layer sends), then composes them and reads ffmpeg's own `-benchmark` figures
//! (wall, user and system time). The baseline in the same run is what any recording that keeps
//! the video must at least do: re-encode one person's camera alone to VP8.
//!
//! `cargo run --release --example compose_bench -- --people 1,3,6 --seconds 60`
//! (smoke: `cargo run --example compose_bench -- --people 2 --seconds 5`).

use std::path::Path;
use std::process::Command;

use huddle::recording::compose::{Timeline, plan};

fn arg(args: &[String], name: &str) -> Option<String> {
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1).cloned())
}

/// Runs ffmpeg; returns its `-benchmark` line's (utime, stime, rtime) in seconds.
fn ffmpeg(args: &[String]) -> (f64, f64, f64) {
    let mut all = vec!["-benchmark".to_owned()];
    // The `-benchmark` line is information, not an error.
    all.extend(args.iter().map(|a| {
        if a == "error" {
            "info".to_owned()
        } else {
            a.clone()
        }
    }));
    let out = Command::new("ffmpeg")
        .args(&all)
        .output()
        .expect("ffmpeg (Debian: apt install ffmpeg)");
    let text =
        String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "ffmpeg failed: {text}");
    let line = text
        .lines()
        .find(|l| l.starts_with("bench: utime="))
        .unwrap_or_else(|| panic!("no -benchmark line in {text}"));
    let field = |name: &str| -> f64 {
        line.split_whitespace()
            .find_map(|w| w.strip_prefix(name))
            .and_then(|v| v.trim_end_matches('s').parse().ok())
            .unwrap_or(0.0)
    };
    (field("utime="), field("stime="), field("rtime="))
}

/// The raw files of a recording of `people` for `seconds`, as the recorder writes them.
fn raw_recording(dir: &Path, people: usize, seconds: u64) -> Timeline {
    let mut lines = vec![r#"{"t":0,"event":"start","wall_ms":1700000000000}"#.to_owned()];
    for i in 0..people {
        let person = uuid::Uuid::from_u128(i as u128 + 1);
        let (mic, camera) = (format!("{i:04}-mic.ogg"), format!("{i:04}-camera.webm"));
        let run = |args: &[&str]| {
            let out = Command::new("ffmpeg").args(args).output().expect("ffmpeg");
            assert!(
                out.status.success(),
                "{}",
                String::from_utf8_lossy(&out.stderr)
            );
        };
        let d = seconds.to_string();
        run(&[
            "-v",
            "error",
            "-y",
            "-f",
            "lavfi",
            "-i",
            &format!(
                "sine=frequency={}:duration={d}:sample_rate=48000",
                300 + 110 * i
            ),
            "-c:a",
            "libopus",
            "-b:a",
            "32k",
            &dir.join(&mic).display().to_string(),
        ]);
        run(&[
            "-v",
            "error",
            "-y",
            "-f",
            "lavfi",
            "-i",
            &format!("testsrc2=size=640x480:rate=30:duration={d}"),
            "-c:v",
            "libvpx",
            "-deadline",
            "realtime",
            "-cpu-used",
            "8",
            "-b:v",
            "600k",
            &dir.join(&camera).display().to_string(),
        ]);
        let t = 100 * i;
        lines.push(format!(
            r#"{{"t":{t},"event":"track","file":"{mic}","person":"{person}","source":"mic"}}"#
        ));
        lines.push(format!(
            r#"{{"t":{t},"event":"track","file":"{camera}","person":"{person}","source":"camera"}}"#
        ));
    }
    lines.push(format!(r#"{{"t":{},"event":"end"}}"#, seconds * 1000));
    Timeline::parse(&lines.join("\n"))
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let people: Vec<usize> = arg(&args, "--people")
        .unwrap_or_else(|| "1,3,6".into())
        .split(',')
        .map(|n| n.parse().expect("--people 1,3,6"))
        .collect();
    let seconds: u64 = arg(&args, "--seconds").map_or(60, |v| v.parse().unwrap());
    println!("composing benchmark: {seconds} s recordings, ffmpeg with Huddle's command\n");
    println!(
        "| people | composed in (s) | CPU (s) | per minute recorded: wall (s) | CPU (s) | real-time factor | baseline: one camera re-encoded, wall (s) | ratio | file (MB) |"
    );
    println!("|---|---|---|---|---|---|---|---|---|");
    for n in people {
        let dir = tempfile::tempdir().unwrap();
        let timeline = raw_recording(dir.path(), n, seconds);
        let out = dir.path().join("composed.webm");
        let mut command = plan(&timeline, dir.path(), seconds * 1000, &out);
        // The benchmark reads ffmpeg's own figures, not its progress.
        if let Some(i) = command.iter().position(|a| a == "-progress") {
            command.drain(i..i + 2);
        }
        let (user, system, wall) = ffmpeg(&command);
        // Baseline: one camera alone, re-encoded with the same encoder settings.
        let base_out = dir.path().join("baseline.webm");
        let baseline: Vec<String> = [
            "-hide_banner",
            "-nostdin",
            "-y",
            "-loglevel",
            "error",
            "-i",
            &dir.path().join("0000-camera.webm").display().to_string(),
            "-an",
            "-c:v",
            "libvpx",
            "-deadline",
            "realtime",
            "-cpu-used",
            "8",
            "-b:v",
            "1M",
            &base_out.display().to_string(),
        ]
        .map(String::from)
        .to_vec();
        let (_, _, base_wall) = ffmpeg(&baseline);
        let size = std::fs::metadata(&out).map(|m| m.len()).unwrap_or(0);
        let per_minute = 60.0 / seconds as f64;
        println!(
            "| {n} | {wall:.1} | {:.1} | {:.1} | {:.1} | {:.3} | {base_wall:.1} | {:.2} | {:.1} |",
            user + system,
            wall * per_minute,
            (user + system) * per_minute,
            wall / seconds as f64,
            wall / base_wall.max(1e-3),
            size as f64 / 1e6
        );
    }
}

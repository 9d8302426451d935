//! One playable file from a recording's raw files: the timeline says which file starts when
//! ([`Timeline`]), [`plan`] turns that into an ffmpeg command (pure, so it is tested without
//! ffmpeg), and [`run`] runs it with its progress.
//!
//! Decision: the picture is a **grid**. Each person's camera and each shared screen gets a cell
//! of its own for the whole recording (up to [`MAX_CELLS`], in order of first appearance),
//! showing that source while it was recorded and black otherwise; the cells fill the rows of a
//! 1280×720 picture. A grid needs nothing but the files (an active-speaker cut would depend on
//! the speaking notes being right), shows a screen and the person presenting it side by side,
//! and is what teachers asked other products for. All voices are mixed at their own level, under
//! a limiter.

use std::collections::HashMap;
use std::path::Path;
use std::process::Stdio;

use serde::Deserialize;
use tokio::io::{AsyncBufReadExt, BufReader};

use crate::domain::recording::Recording;
use crate::ids::PersonId;

/// Most video cells; later sources are not shown (their sound is).
pub const MAX_CELLS: usize = 9;
/// The composed picture.
pub const WIDTH: u32 = 1280;
/// The composed picture.
pub const HEIGHT: u32 = 720;
/// Frames per second of the composed picture.
pub const FPS: u32 = 15;
/// How long ffmpeg may go without reporting progress before it is stopped.
const STALLED: std::time::Duration = std::time::Duration::from_secs(120);

/// One source file and when it starts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrackFile {
    /// The file name in the recording's directory.
    pub file: String,
    /// Whose.
    pub person: PersonId,
    /// `mic`, `camera` or `screen`.
    pub source: String,
    /// Milliseconds from the recording's start.
    pub start_ms: u64,
}

/// What `timeline.jsonl` says.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Timeline {
    /// Wall time of the start, milliseconds since the Unix epoch.
    pub wall_ms: Option<i64>,
    /// When it ended, if the end was written (not after a crash).
    pub end_ms: Option<u64>,
    /// The latest time any line names.
    pub last_ms: u64,
    /// The source files, in order.
    pub tracks: Vec<TrackFile>,
    /// Names of the people present.
    pub names: HashMap<PersonId, String>,
}

#[derive(Deserialize)]
struct Line {
    t: u64,
    event: String,
    wall_ms: Option<i64>,
    file: Option<String>,
    person: Option<PersonId>,
    source: Option<String>,
    name: Option<String>,
}

impl Timeline {
    /// Reads the lines it can; a line cut short by a crash is skipped.
    pub fn parse(text: &str) -> Timeline {
        let mut timeline = Timeline::default();
        for line in text.lines() {
            let Ok(line) = serde_json::from_str::<Line>(line) else {
                continue;
            };
            timeline.last_ms = timeline.last_ms.max(line.t);
            match line.event.as_str() {
                "start" => timeline.wall_ms = line.wall_ms,
                "end" => timeline.end_ms = Some(line.t),
                "track" => {
                    if let (Some(file), Some(person), Some(source)) =
                        (line.file, line.person, line.source)
                    {
                        // Only plain names written by the recorder are used.
                        if !file.contains('/') && !file.contains("..") {
                            timeline.tracks.push(TrackFile {
                                file,
                                person,
                                source,
                                start_ms: line.t,
                            });
                        }
                    }
                }
                "present" => {
                    if let (Some(person), Some(name)) = (line.person, line.name) {
                        timeline.names.insert(person, name);
                    }
                }
                _ => {}
            }
        }
        timeline
    }
}

/// Leaves out files that hold nothing to play: an Ogg with only its headers, a WebM without a
/// frame (a crash right after they were opened), or a file that is gone. ffmpeg fails the whole
/// command on one such input.
pub async fn drop_unplayable(timeline: &mut Timeline, dir: &Path) {
    let mut keep = Vec::with_capacity(timeline.tracks.len());
    for track in std::mem::take(&mut timeline.tracks) {
        let least = if track.source == "mic" { 200 } else { 400 };
        let size = tokio::fs::metadata(dir.join(&track.file))
            .await
            .map_or(0, |m| m.len());
        if size > least {
            keep.push(track);
        }
    }
    timeline.tracks = keep;
}

/// How long the recording is: to its end line; after a crash, to the last write of its files.
pub async fn duration_ms(
    timeline: &Timeline,
    dir: &Path,
    stopped_at: i64,
    recording: &Recording,
) -> u64 {
    if let Some(end) = timeline.end_ms {
        return end;
    }
    let mut last = timeline.last_ms;
    if let (Some(wall), Ok(mut entries)) = (timeline.wall_ms, tokio::fs::read_dir(dir).await) {
        while let Ok(Some(entry)) = entries.next_entry().await {
            let modified = entry.metadata().await.ok().and_then(|m| m.modified().ok());
            if let Some(ms) = modified
                .and_then(|m| m.duration_since(std::time::UNIX_EPOCH).ok())
                .map(|d| d.as_millis() as i64)
            {
                last = last.max((ms - wall).max(0) as u64);
            }
        }
    }
    // Never beyond the stop the store knows of.
    let stored = (stopped_at - recording.started_at).max(0) as u64;
    if stored > 0 { last.min(stored) } else { last }
}

/// Cells of the grid: (columns, rows) for `n` sources.
pub fn grid(n: usize) -> (u32, u32) {
    let n = n.clamp(1, MAX_CELLS) as u32;
    let cols = (1..=3).find(|c| c * c >= n).unwrap_or(3);
    (cols, n.div_ceil(cols))
}

/// The ffmpeg arguments that compose the files of `timeline` (in `dir`) into `out`, `duration_ms`
/// long.
pub fn plan(timeline: &Timeline, dir: &Path, duration_ms: u64, out: &Path) -> Vec<String> {
    let seconds = |ms: u64| format!("{}.{:03}", ms / 1000, ms % 1000);
    let duration = seconds(duration_ms);
    let mut args: Vec<String> = ["-hide_banner", "-nostdin", "-y", "-loglevel", "error"]
        .map(String::from)
        .to_vec();
    // Cells: one per (person, video source), in order of first appearance.
    let mut cells: Vec<(PersonId, &str)> = Vec::new();
    for t in timeline.tracks.iter().filter(|t| t.source != "mic") {
        if !cells.contains(&(t.person, t.source.as_str())) && cells.len() < MAX_CELLS {
            cells.push((t.person, t.source.as_str()));
        }
    }
    let (cols, rows) = grid(cells.len());
    let (cell_w, cell_h) = ((WIDTH / cols) & !1, (HEIGHT / rows) & !1);
    let mut filters = vec![format!(
        "color=c=black:s={WIDTH}x{HEIGHT}:r={FPS}:d={duration}[v0]"
    )];
    let mut audio = vec!["[a0]".to_owned()];
    filters.push(format!(
        "anullsrc=r=48000:cl=stereo,atrim=duration={duration}[a0]"
    ));
    let mut input = 0;
    let mut video = 0;
    for t in &timeline.tracks {
        let cell = cells
            .iter()
            .position(|c| *c == (t.person, t.source.as_str()));
        if t.source != "mic" && cell.is_none() {
            continue;
        }
        if t.start_ms >= duration_ms {
            continue;
        }
        if cell.is_some() {
            // A layer switch changes the size mid-file: without this, ffmpeg 5.1 rebuilds the
            // whole graph (the canvas starts over) and may spin forever at the end.
            args.extend(["-reinit_filter", "0"].map(String::from));
        }
        args.extend(["-i".to_owned(), dir.join(&t.file).display().to_string()]);
        let offset = seconds(t.start_ms);
        match cell {
            None => {
                // Timestamps from the granules (a muted pause stays a pause), filled with
                // silence, then placed at the file's start.
                filters.push(format!(
                    "[{input}:a]aresample=48000:async=1:min_hard_comp=0.01:first_pts=0,adelay={ms}:all=1[a{n}]",
                    ms = t.start_ms,
                    n = audio.len()
                ));
                audio.push(format!("[a{}]", audio.len()));
            }
            Some(cell) => {
                let (x, y) = ((cell as u32 % cols) * cell_w, (cell as u32 / cols) * cell_h);
                filters.push(format!(
                    "[{input}:v]setpts=PTS+{offset}/TB,fps={FPS},scale={cell_w}:{cell_h}:force_original_aspect_ratio=decrease:eval=frame,pad={cell_w}:{cell_h}:(ow-iw)/2:(oh-ih)/2:eval=frame,setsar=1[s{input}]"
                ));
                filters.push(format!(
                    "[v{video}][s{input}]overlay=x={x}:y={y}:eof_action=pass[v{next}]",
                    next = video + 1
                ));
                video += 1;
            }
        }
        input += 1;
    }
    // Overlays carry an alpha plane that the VP8 encoder must not see.
    filters.push(format!("[v{video}]format=yuv420p[vout]"));
    filters.push(format!(
        // Voices at their own level, a limiter instead of clipping where they add up past full
        // scale (clipping would put tones in the mix that nobody made), and 20 ms frames for the
        // Opus encoder (ffmpeg 5.1 does not cut a complex graph's output to them by itself).
        "{}amix=inputs={}:duration=first:normalize=0,alimiter=limit=0.9:level=0:latency=1,asetnsamples=n=960:p=0[aout]",
        audio.join(""),
        audio.len()
    ));
    args.extend(["-filter_complex_threads", "1"].map(String::from));
    args.extend(["-filter_complex".to_owned(), filters.join(";")]);
    args.extend(
        [
            "-map",
            "[vout]",
            "-map",
            "[aout]",
            "-t",
            &duration,
            "-c:v",
            "libvpx",
            "-deadline",
            "realtime",
            "-cpu-used",
            "8",
            "-b:v",
            "1M",
            "-g",
            "150",
            "-threads",
            "1",
            "-c:a",
            "libopus",
            "-b:a",
            "96k",
            "-progress",
            "pipe:1",
            "-nostats",
        ]
        .map(String::from),
    );
    args.push(out.display().to_string());
    args
}

/// Runs ffmpeg with `args`, reporting the percentage done; the error names what went wrong.
pub async fn run(
    ffmpeg: &Path,
    args: &[String],
    duration_ms: u64,
    mut progress: impl FnMut(u8),
) -> Result<(), String> {
    let mut child = tokio::process::Command::new(ffmpeg)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| {
            format!(
                "cannot run {} ({e}); install ffmpeg or set `ffmpeg`",
                ffmpeg.display()
            )
        })?;
    let stderr = child.stderr.take();
    let errors = tokio::spawn(async move {
        let mut text = String::new();
        if let Some(stderr) = stderr {
            let mut lines = BufReader::new(stderr).lines();
            while let Ok(Some(line)) = lines.next_line().await {
                if text.len() < 4_000 {
                    text.push_str(&line);
                    text.push('\n');
                }
            }
        }
        text
    });
    if let Some(stdout) = child.stdout.take() {
        let mut lines = BufReader::new(stdout).lines();
        loop {
            // ffmpeg reports twice a second; silence this long means it is stuck.
            let line = match tokio::time::timeout(STALLED, lines.next_line()).await {
                Ok(Ok(Some(line))) => line,
                Ok(_) => break,
                Err(_) => {
                    let _ = child.kill().await;
                    return Err(format!(
                        "ffmpeg made no progress for {} s and was stopped",
                        STALLED.as_secs()
                    ));
                }
            };
            if let Some(us) = line
                .strip_prefix("out_time_us=")
                .and_then(|v| v.trim().parse::<u64>().ok())
            {
                let percent = (us / 1000).saturating_mul(100) / duration_ms.max(1);
                progress(percent.min(99) as u8);
            }
        }
    }
    let status = child.wait().await.map_err(|e| format!("ffmpeg: {e}"))?;
    let errors = errors.await.unwrap_or_default();
    if !status.success() {
        return Err(format!("ffmpeg failed ({status}): {}", errors.trim()));
    }
    progress(100);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn person(n: u128) -> PersonId {
        PersonId(uuid::Uuid::from_u128(n))
    }

    const TIMELINE: &str = r#"{"t":0,"event":"start","wall_ms":1700000000000}
{"t":0,"event":"present","person":"00000000-0000-0000-0000-000000000001","name":"Ada"}
{"t":120,"event":"track","file":"0001-a-mic.ogg","person":"00000000-0000-0000-0000-000000000001","source":"mic"}
{"t":400,"event":"track","file":"0002-a-camera.webm","person":"00000000-0000-0000-0000-000000000001","source":"camera"}
{"t":900,"event":"track","file":"../../etc/passwd","person":"00000000-0000-0000-0000-000000000002","source":"mic"}
{"t":5000,"event":"track","file":"0003-b-camera.webm","person":"00000000-0000-0000-0000-000000000002","source":"camera"}
{"t":9000,"event":"track","file":"0004-a-camera.webm","person":"00000000-0000-0000-0000-000000000001","source":"camera"}
{"t":20000,"event":"end"}
{"t":20500,"ev"#;

    #[test]
    fn the_timeline_gives_files_starts_and_the_end() {
        let t = Timeline::parse(TIMELINE);
        assert_eq!(t.end_ms, Some(20_000));
        assert_eq!(t.wall_ms, Some(1_700_000_000_000));
        assert_eq!(t.names.get(&person(1)).map(String::as_str), Some("Ada"));
        let files: Vec<(&str, u64)> = t
            .tracks
            .iter()
            .map(|t| (t.file.as_str(), t.start_ms))
            .collect();
        assert_eq!(
            files,
            vec![
                ("0001-a-mic.ogg", 120),
                ("0002-a-camera.webm", 400),
                ("0003-b-camera.webm", 5000),
                ("0004-a-camera.webm", 9000),
            ],
            "a path that leaves the directory is ignored, and the cut last line"
        );
    }

    #[test]
    fn grids_fill_rows() {
        assert_eq!(grid(0), (1, 1));
        assert_eq!(grid(1), (1, 1));
        assert_eq!(grid(2), (2, 1));
        assert_eq!(grid(3), (2, 2));
        assert_eq!(grid(5), (3, 2));
        assert_eq!(grid(9), (3, 3));
        assert_eq!(grid(14), (3, 3));
    }

    #[test]
    fn each_person_keeps_one_cell_and_each_file_its_start() {
        let t = Timeline::parse(TIMELINE);
        let args = plan(&t, Path::new("/rec"), 20_000, Path::new("/rec/out.webm"));
        let inputs: Vec<&str> = args
            .windows(2)
            .filter(|w| w[0] == "-i")
            .map(|w| w[1].as_str())
            .collect();
        assert_eq!(
            inputs,
            vec![
                "/rec/0001-a-mic.ogg",
                "/rec/0002-a-camera.webm",
                "/rec/0003-b-camera.webm",
                "/rec/0004-a-camera.webm"
            ]
        );
        let graph = &args[args.iter().position(|a| a == "-filter_complex").unwrap() + 1];
        assert!(graph.contains("adelay=120:all=1"), "{graph}");
        // Ada's two camera files share the left cell; Bea's is on the right.
        assert!(graph.contains("[v0][s1]overlay=x=0:y=0"), "{graph}");
        assert!(graph.contains("[v1][s2]overlay=x=640:y=0"), "{graph}");
        assert!(graph.contains("[v2][s3]overlay=x=0:y=0"), "{graph}");
        assert!(graph.contains("setpts=PTS+9.000/TB"), "{graph}");
        assert_eq!(
            args.iter().filter(|a| *a == "-reinit_filter").count(),
            3,
            "one per video input"
        );
        assert!(graph.contains("amix=inputs=2"), "{graph}");
        let t_at = args.iter().position(|a| a == "-t").unwrap();
        assert_eq!(args[t_at + 1], "20.000");
        assert_eq!(args.last().map(String::as_str), Some("/rec/out.webm"));
    }
}

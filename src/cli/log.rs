//! The `agentlane log` command: list, verify, dump and replay log directories.
//!
//! `DIR` is either a partition directory (it holds `<20 digits>.seg` files) or a topic
//! directory holding partition directories named `p` and 4 digits (`p0000`, `p0001`, ...);
//! every command then runs over each partition in order. Nothing here changes a file: the
//! log is read through [`LogSnapshot`], which reports a torn tail instead of cutting it.

use std::io::{self, BufWriter, IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Args, Subcommand};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use serde_json::{json, Map, Value};

use agentlane::frame::FrameRef;
use agentlane::log::{
    parse_partition_dir_name, parse_segment_name, LogError, LogReader, LogSnapshot, Record,
    TornTail,
};

/// Inspect, verify, dump or replay a log directory.
#[derive(Debug, Args)]
pub(crate) struct LogArgs {
    #[command(subcommand)]
    command: LogCommand,
}

#[derive(Debug, Subcommand)]
enum LogCommand {
    /// List segments: base and next offsets, records, bytes, time range.
    Ls {
        /// A partition directory, or a topic directory of `pNNNN` partition directories.
        dir: PathBuf,
    },
    /// Check every segment header and record CRC; exit 1 on corruption.
    Verify {
        /// A partition directory, or a topic directory of `pNNNN` partition directories.
        dir: PathBuf,
    },
    /// Print records, decoding the envelope (topic, key, offset) when it decodes.
    Dump {
        /// A partition directory, or a topic directory of `pNNNN` partition directories.
        dir: PathBuf,
        /// First offset to print.
        #[arg(long)]
        from: Option<u64>,
        /// One JSON object per line.
        #[arg(long)]
        json: bool,
    },
    /// Stream records to stdout as JSON lines, frame bytes in hex.
    Replay {
        /// A partition directory, or a topic directory of `pNNNN` partition directories.
        dir: PathBuf,
        /// First offset to replay.
        #[arg(long, conflicts_with = "from_time")]
        from: Option<u64>,
        /// Replay from the first record at or after this time (ns).
        #[arg(long)]
        from_time: Option<u64>,
    },
}

/// Runs `agentlane log`.
pub(crate) fn run(args: LogArgs) -> ExitCode {
    let result = match args.command {
        LogCommand::Ls { dir } => each_partition(&dir, ls),
        LogCommand::Verify { dir } => verify(&dir),
        LogCommand::Dump { dir, from, json } => {
            each_partition(&dir, |p, d| dump(p, d, Start::Offset(from), json))
        }
        LogCommand::Replay {
            dir,
            from,
            from_time,
        } => {
            let start = from_time.map_or(Start::Offset(from), Start::Time);
            each_partition(&dir, |p, d| replay(p, d, start))
        }
    };
    match result {
        Ok(code) => code,
        Err(CliError::BrokenPipe) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("agentlane log: {error}");
            ExitCode::FAILURE
        }
    }
}

/// What can stop a command.
#[derive(Debug, thiserror::Error)]
enum CliError {
    #[error("{0}")]
    Log(#[from] LogError),
    #[error("cannot read {}: {source}", path.display())]
    Dir { path: PathBuf, source: io::Error },
    #[error("no log segments in {} (nor partition directories named pNNNN, nor topic directories holding them)", .0.display())]
    Empty(PathBuf),
    #[error("stdout is closed")]
    BrokenPipe,
    #[error("cannot write to stdout: {0}")]
    Stdout(io::Error),
}

impl From<io::Error> for CliError {
    fn from(error: io::Error) -> Self {
        if error.kind() == io::ErrorKind::BrokenPipe {
            CliError::BrokenPipe
        } else {
            CliError::Stdout(error)
        }
    }
}

/// Where a dump or replay starts.
#[derive(Debug, Clone, Copy)]
enum Start {
    Offset(Option<u64>),
    Time(u64),
}

/// The partition directories `dir` stands for, with their partition numbers.
fn partitions(dir: &Path) -> Result<Vec<(Option<u32>, PathBuf)>, CliError> {
    let entries = std::fs::read_dir(dir).map_err(|source| CliError::Dir {
        path: dir.to_owned(),
        source,
    })?;
    let mut segments = false;
    let mut children = Vec::new();
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        segments |= parse_segment_name(&name).is_some();
        if let (Some(n), true) = (parse_partition_dir_name(&name), entry.path().is_dir()) {
            children.push((Some(n), entry.path()));
        }
    }
    if segments {
        return Ok(vec![(None, dir.to_owned())]);
    }
    if children.is_empty() {
        children = topic_partitions(dir);
    }
    if children.is_empty() {
        return Err(CliError::Empty(dir.to_owned()));
    }
    children.sort_by(|a, b| a.1.cmp(&b.1));
    Ok(children)
}

/// The partition directories of every topic directory in `dir`: a runtime's `log_dir`
/// holds one directory per durable topic.
fn topic_partitions(dir: &Path) -> Vec<(Option<u32>, PathBuf)> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let topics = entries.flatten().map(|e| e.path()).filter(|p| p.is_dir());
    topics
        .flat_map(|topic| std::fs::read_dir(&topic).into_iter().flatten().flatten())
        .filter_map(|entry| {
            let name = entry.file_name().to_string_lossy().into_owned();
            let partition = parse_partition_dir_name(&name)?;
            entry
                .path()
                .is_dir()
                .then(|| (Some(partition), entry.path()))
        })
        .collect()
}

/// Runs `command` on each partition; the worst exit code wins.
fn each_partition<F>(dir: &Path, mut command: F) -> Result<ExitCode, CliError>
where
    F: FnMut(Option<u32>, &Path) -> Result<(), CliError>,
{
    for (partition, dir) in partitions(dir)? {
        command(partition, &dir)?;
    }
    Ok(ExitCode::SUCCESS)
}

/// `ls`: one line per segment.
fn ls(_partition: Option<u32>, dir: &Path) -> Result<(), CliError> {
    let (snapshot, report) = LogSnapshot::open(dir)?;
    let mut out = BufWriter::new(io::stdout().lock());
    writeln!(
        out,
        "{}: offsets {}..{}",
        dir.display(),
        report.start_offset,
        report.next_offset
    )?;
    writeln!(
        out,
        "  {:<26} {:>12} {:>12} {:>10} {:>12}  time range (ns)",
        "segment", "base", "next", "records", "bytes"
    )?;
    for segment in snapshot.handle().segments() {
        let name = segment
            .path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let records = segment.next_offset - segment.base_offset;
        let times = segment
            .time_range
            .map_or_else(|| "-".to_owned(), |(a, b)| format!("{a}..={b}"));
        let (base, next, bytes) = (segment.base_offset, segment.next_offset, segment.bytes);
        writeln!(
            out,
            "  {name:<26} {base:>12} {next:>12} {records:>10} {bytes:>12}  {times}"
        )?;
    }
    if let Some(tail) = report.torn_tail {
        writeln!(
            out,
            "  torn tail: {} bytes at byte {} of {}",
            tail.bytes,
            tail.position,
            tail.segment.display()
        )?;
    }
    out.flush()?;
    Ok(())
}

/// `verify`: exit 1 when any partition is damaged beyond a torn tail.
fn verify(dir: &Path) -> Result<ExitCode, CliError> {
    let mut code = ExitCode::SUCCESS;
    let mut out = io::stdout().lock();
    for (_, dir) in partitions(dir)? {
        match LogSnapshot::open(&dir) {
            Ok((_, report)) => {
                let (start, next, n) = (report.start_offset, report.next_offset, report.segments);
                writeln!(
                    out,
                    "ok: {}: {n} segments, offsets {start}..{next}",
                    dir.display()
                )?;
                if let Some(tail) = report.torn_tail {
                    writeln!(out, "  {}", describe_tail(&tail))?;
                }
            }
            Err(error) => {
                writeln!(out, "corrupt: {}: {error}", dir.display())?;
                code = ExitCode::FAILURE;
            }
        }
    }
    Ok(code)
}

/// One line about a torn tail, for `verify`.
fn describe_tail(tail: &TornTail) -> String {
    let (segment, position, offset) = (tail.segment.display(), tail.position, tail.offset);
    let (bytes, damage) = (tail.bytes, tail.damage);
    format!(
        "torn tail in {segment} at byte {position} (offset {offset}, {bytes} bytes, {damage}): \
         opening the log will cut it"
    )
}

/// A reader over `dir` at `start`, and how many records it will pass.
fn open_reader(dir: &Path, start: Start) -> Result<(LogReader, u64), CliError> {
    let (snapshot, report) = LogSnapshot::open(dir)?;
    let handle = snapshot.handle();
    let reader = match start {
        Start::Offset(None) => handle.reader_from_start(),
        Start::Offset(Some(offset)) => handle.reader_from(offset)?,
        Start::Time(time) => handle.reader_from_time(time),
    };
    let left = report.next_offset.saturating_sub(reader.position());
    Ok((reader, left))
}

/// The order of the fields in `dump`'s text lines.
const FIELD_ORDER: [&str; 8] = [
    "partition",
    "offset",
    "timestamp_ns",
    "len",
    "topic",
    "key",
    "frame_offset",
    "decode_error",
];

/// `dump`: one line per record, text or JSON.
fn dump(partition: Option<u32>, dir: &Path, start: Start, json: bool) -> Result<(), CliError> {
    let (mut reader, _) = open_reader(dir, start)?;
    let mut out = BufWriter::new(io::stdout().lock());
    while let Some(record) = reader.next() {
        let fields = describe(partition, &record?);
        if json {
            writeln!(out, "{}", Value::Object(fields))?;
        } else {
            let text: Vec<String> = FIELD_ORDER
                .iter()
                .filter_map(|&k| fields.get(k).map(|v| format!("{k}={}", plain(v))))
                .collect();
            writeln!(out, "{}", text.join(" "))?;
        }
    }
    out.flush()?;
    Ok(())
}

/// `replay`: JSON lines with the frame bytes, and a progress bar on a terminal.
fn replay(partition: Option<u32>, dir: &Path, start: Start) -> Result<(), CliError> {
    let (mut reader, left) = open_reader(dir, start)?;
    let bar = progress(left);
    let mut out = BufWriter::new(io::stdout().lock());
    while let Some(record) = reader.next() {
        let record = record?;
        let mut fields = describe(partition, &record);
        fields.insert("frame_hex".into(), Value::String(hex(record.frame)));
        writeln!(out, "{}", Value::Object(fields))?;
        bar.inc(1);
    }
    out.flush()?;
    bar.finish_and_clear();
    Ok(())
}

/// A progress bar on stderr, hidden when stderr is not a terminal.
fn progress(len: u64) -> ProgressBar {
    let target = if io::stderr().is_terminal() {
        ProgressDrawTarget::stderr()
    } else {
        ProgressDrawTarget::hidden()
    };
    let bar = ProgressBar::with_draw_target(Some(len), target);
    if let Ok(style) =
        ProgressStyle::with_template("{bar:40} {pos}/{len} records {per_sec} eta {eta}")
    {
        bar.set_style(style);
    }
    bar
}

/// The fields shown for a record: log fields, then the envelope's when it decodes.
fn describe(partition: Option<u32>, record: &Record<'_>) -> Map<String, Value> {
    let mut fields = Map::new();
    if let Some(partition) = partition {
        fields.insert("partition".into(), json!(partition));
    }
    fields.insert("offset".into(), json!(record.offset));
    fields.insert("timestamp_ns".into(), json!(record.timestamp_ns));
    fields.insert("len".into(), json!(record.frame.len()));
    match FrameRef::decode(record.frame) {
        Ok(frame) => {
            fields.insert("topic".into(), json!(frame.topic().unwrap_or("?")));
            fields.insert(
                "key".into(),
                json!(frame.key().map(key_text).unwrap_or_default()),
            );
            fields.insert("frame_offset".into(), json!(frame.offset()));
        }
        Err(error) => {
            fields.insert("decode_error".into(), json!(error.to_string()));
        }
    }
    fields
}

/// A key as text when it is UTF-8, else as hex.
fn key_text(key: &[u8]) -> String {
    std::str::from_utf8(key).map_or_else(|_| format!("0x{}", hex(key)), str::to_owned)
}

fn plain(value: &Value) -> String {
    match value {
        Value::String(s) => format!("{s:?}"),
        other => other.to_string(),
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

//! The `agentlane log` command: list, verify, dump and replay log directories.
//!
//! `DIR` is either a partition directory (it holds `<20 digits>.seg` files) or a topic
//! directory holding partition directories named `p` and 4 digits (`p0000`, `p0001`, ...);
//! every command then runs over each partition in order. It may also be a runtime's
//! `log_dir`, holding one such topic directory per durable topic. A topic directory may
//! hold the topic's consumer `positions` file, which `verify` checks against the log.
//!
//! Nothing here changes a file: the log is read through [`LogSnapshot`], which reports a
//! torn tail instead of cutting it, and positions through [`Positions::read_file`].

use std::collections::BTreeMap;
use std::io::{self, BufWriter, IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Args, Subcommand};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use serde_json::{json, Map, Value};

use agentlane::frame::FrameRef;
use agentlane::log::{
    parse_partition_dir_name, parse_segment_name, partition_dir_name, LogError, LogReader,
    LogSnapshot, Positions, Record, RecoveryReport, TornTail, POSITIONS_FILE,
};

/// Inspect, verify, dump or replay a log directory.
#[derive(Debug, Args)]
pub(crate) struct LogArgs {
    #[command(subcommand)]
    command: LogCommand,
}

/// The `agentlane log` subcommands.
#[derive(Debug, Subcommand)]
enum LogCommand {
    /// List segments: base and next offsets, records, bytes, time range.
    ///
    /// Every partition is listed; one that cannot be read is marked `corrupt:` (or
    /// `unreadable:`) with its error, and the command exits 1 after listing the others.
    Ls {
        /// A partition directory, a topic directory of `pNNNN` partition directories, or a
        /// runtime's `log_dir` of topic directories.
        dir: PathBuf,
    },
    /// Check every partition and each topic's consumer positions; exit 1 on damage.
    ///
    /// Every partition is checked and reported (`ok:` or `corrupt:`), then each topic's
    /// `positions` file when the topic directory has one (`ok:`, `corrupt:` or `lost:`);
    /// a file that cannot be read at all is `unreadable:`. Nothing on disk is changed.
    ///
    /// Exits 1 when any of these was found: an unreadable file; corruption (a record or
    /// segment header that fails its check with valid records after it); a sealed segment
    /// cut inside a record; a gap between the offsets of two segments; a positions file
    /// that does not decode (garbage, empty or truncated); a stored position that is
    /// impossible: past the partition's next offset, before its start offset, or on a
    /// partition whose directory does not exist (records were lost).
    ///
    /// Exits 0, with a note, for a torn tail: damage at the very end of the last segment
    /// with nothing valid after it, left by a crash during an append, which opening the
    /// log will cut.
    Verify {
        /// A partition directory, a topic directory of `pNNNN` partition directories, or a
        /// runtime's `log_dir` of topic directories.
        dir: PathBuf,
    },
    /// Print records, decoding the envelope (topic, key, offset) when it decodes.
    ///
    /// A key prints as a string when it is valid UTF-8 without control characters and
    /// does not start with `0x`; otherwise as `0x` and its bytes in lowercase hex (the
    /// key of bytes 00 01 prints as `0x0001`). A record whose envelope does not decode
    /// carries `dir` (its partition directory) and `decode_error` instead of the
    /// envelope's fields.
    Dump {
        /// A partition directory, a topic directory of `pNNNN` partition directories, or a
        /// runtime's `log_dir` of topic directories.
        dir: PathBuf,
        /// First offset to print.
        #[arg(long)]
        from: Option<u64>,
        /// One JSON object per line.
        #[arg(long)]
        json: bool,
    },
    /// Stream records to stdout as JSON lines, frame bytes in hex (fields as in `dump`).
    Replay {
        /// A partition directory, a topic directory of `pNNNN` partition directories, or a
        /// runtime's `log_dir` of topic directories.
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
        LogCommand::Ls { dir } => ls(&dir),
        LogCommand::Verify { dir } => verify(&dir),
        LogCommand::Dump { dir, from, json } => {
            each_partition(&dir, "dump", |p, d| dump(p, d, Start::Offset(from), json))
        }
        LogCommand::Replay {
            dir,
            from,
            from_time,
        } => {
            let start = from_time.map_or(Start::Offset(from), Start::Time);
            each_partition(&dir, "replay", |p, d| replay(p, d, start))
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
    #[error(
        "no log segments in {} (nor partition directories named pNNNN or a positions file, \
         nor topic directories holding them)",
        .0.display()
    )]
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

/// A partition directory, with its partition number when its name gives one.
type Partition = (Option<u32>, PathBuf);

/// A topic as the commands see it: its partition directories and its positions file.
#[derive(Debug)]
struct Topic {
    /// The topic directory, where its `positions` file is; `None` for a directory of
    /// segments not named `pNNNN`, which belongs to no topic.
    dir: Option<PathBuf>,
    /// The partition whose positions are checked when `DIR` named one partition; `None`
    /// checks them all.
    only: Option<u32>,
    /// The partition directories, sorted by path.
    partitions: Vec<Partition>,
}

impl Topic {
    /// The topic's `positions` file, when there is one.
    fn positions_file(&self) -> Option<PathBuf> {
        let path = self.dir.as_ref()?.join(POSITIONS_FILE);
        path.is_file().then_some(path)
    }
}

/// The topics `dir` stands for: itself as a partition, as a topic, or a `log_dir` of topics.
fn layout(dir: &Path) -> Result<Vec<Topic>, CliError> {
    let entries = std::fs::read_dir(dir).map_err(|source| CliError::Dir {
        path: dir.to_owned(),
        source,
    })?;
    let names: Vec<String> = entries
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();

    // A partition directory: its topic directory is the parent, when it is named `pNNNN`.
    if names.iter().any(|name| parse_segment_name(name).is_some()) {
        return Ok(vec![partition_topic(dir)]);
    }

    // A topic directory, else a `log_dir` whose topic directories hold partitions or
    // positions.
    let topics = match topic_at(dir) {
        Some(topic) => vec![topic],
        None => children(dir).iter().filter_map(|d| topic_at(d)).collect(),
    };
    if topics.is_empty() {
        return Err(CliError::Empty(dir.to_owned()));
    }
    Ok(topics)
}

/// The topic of a lone partition directory: only that partition's positions count.
fn partition_topic(dir: &Path) -> Topic {
    let name = dir.file_name().map(|n| n.to_string_lossy().into_owned());
    let number = name.as_deref().and_then(parse_partition_dir_name);
    let parent = dir.parent().filter(|_| number.is_some());
    Topic {
        dir: parent.map(Path::to_owned),
        only: number,
        partitions: vec![(number, dir.to_owned())],
    }
}

/// `dir` as a topic directory, when it holds `pNNNN` partition directories or positions.
fn topic_at(dir: &Path) -> Option<Topic> {
    let mut partitions: Vec<Partition> = children(dir)
        .into_iter()
        .filter_map(|path| {
            let name = path.file_name()?.to_string_lossy().into_owned();
            Some((Some(parse_partition_dir_name(&name)?), path))
        })
        .collect();
    partitions.sort_by(|a, b| a.1.cmp(&b.1));
    let topic = Topic {
        dir: Some(dir.to_owned()),
        only: None,
        partitions,
    };
    let found = !topic.partitions.is_empty() || topic.positions_file().is_some();
    found.then_some(topic)
}

/// The subdirectories of `dir`, sorted; none when it cannot be read.
fn children(dir: &Path) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut dirs: Vec<PathBuf> = entries
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.is_dir())
        .collect();
    dirs.sort();
    dirs
}

/// Every partition directory `dir` stands for, in order.
fn partitions(dir: &Path) -> Result<Vec<Partition>, CliError> {
    let all: Vec<Partition> = layout(dir)?
        .into_iter()
        .flat_map(|topic| topic.partitions)
        .collect();
    if all.is_empty() {
        return Err(CliError::Empty(dir.to_owned()));
    }
    Ok(all)
}

/// Runs `command` (named `name` in messages) on each partition; a damaged partition is
/// reported and skipped, and the exit code says so.
fn each_partition<F>(dir: &Path, name: &str, mut command: F) -> Result<ExitCode, CliError>
where
    F: FnMut(Option<u32>, &Path) -> Result<(), CliError>,
{
    // A damaged partition is reported and skipped; the others are still read.
    let mut bad = 0;
    for (partition, dir) in partitions(dir)? {
        match command(partition, &dir) {
            Ok(()) => {}
            Err(error @ (CliError::BrokenPipe | CliError::Stdout(_))) => return Err(error),
            Err(error) => {
                eprintln!("agentlane log: {}: {error}", dir.display());
                bad += 1;
            }
        }
    }
    Ok(finish(name, bad))
}

/// The exit code for a command that found `bad` damaged items; says so on stderr.
fn finish(command: &str, bad: usize) -> ExitCode {
    if bad == 0 {
        return ExitCode::SUCCESS;
    }
    eprintln!("agentlane log {command}: {bad} damaged (see the lines marked above)");
    ExitCode::FAILURE
}

/// The status word of a partition that cannot be read.
fn failure_word(error: &LogError) -> &'static str {
    match error {
        LogError::Io { .. } => "unreadable",
        _ => "corrupt",
    }
}

/// `ls`: one line per segment of every partition; a bad partition is marked, not fatal.
fn ls(dir: &Path) -> Result<ExitCode, CliError> {
    let mut out = BufWriter::new(io::stdout().lock());
    let mut bad = 0;
    for (_, dir) in partitions(dir)? {
        match LogSnapshot::open(&dir) {
            Ok((snapshot, report)) => ls_partition(&mut out, &dir, &snapshot, &report)?,
            Err(error) => {
                writeln!(out, "{}: {}: {error}", dir.display(), failure_word(&error))?;
                bad += 1;
            }
        }
    }
    out.flush()?;
    Ok(finish("ls", bad))
}

/// The `ls` lines of one readable partition.
fn ls_partition(
    out: &mut impl Write,
    dir: &Path,
    snapshot: &LogSnapshot,
    report: &RecoveryReport,
) -> Result<(), CliError> {
    let (start, next) = (report.start_offset, report.next_offset);
    writeln!(out, "{}: offsets {start}..{next}", dir.display())?;
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
    if let Some(tail) = &report.torn_tail {
        let (bytes, position, segment) = (tail.bytes, tail.position, tail.segment.display());
        writeln!(
            out,
            "  torn tail: {bytes} bytes at byte {position} of {segment}"
        )?;
    }
    Ok(())
}

/// A partition's start and next offsets, and whether it ends in a torn tail; `None` when it
/// could not be read.
type Extent = Option<(u64, u64, bool)>;

/// `verify`: report every partition and every topic's positions, then exit 1 on any
/// damage beyond a torn tail.
fn verify(dir: &Path) -> Result<ExitCode, CliError> {
    let mut out = BufWriter::new(io::stdout().lock());
    let mut bad = 0;
    for topic in layout(dir)? {
        // The partitions first: their extents are what the positions are checked against.
        let mut extents = BTreeMap::new();
        for (partition, dir) in &topic.partitions {
            let extent = verify_partition(&mut out, dir)?;
            bad += usize::from(extent.is_none());
            if let Some(partition) = partition {
                extents.insert(*partition, extent);
            }
        }
        bad += verify_positions(&mut out, &topic, &extents)?;
    }
    out.flush()?;
    Ok(finish("verify", bad))
}

/// Checks one partition and prints its line; its extent when it is sound.
fn verify_partition(out: &mut impl Write, dir: &Path) -> Result<Extent, CliError> {
    let report = match LogSnapshot::open(dir) {
        Ok((_, report)) => report,
        Err(error) => {
            writeln!(out, "{}: {}: {error}", failure_word(&error), dir.display())?;
            return Ok(None);
        }
    };
    let (start, next, n) = (report.start_offset, report.next_offset, report.segments);
    writeln!(
        out,
        "ok: {}: {n} segments, offsets {start}..{next}",
        dir.display()
    )?;
    let torn = report.torn_tail.is_some();
    if let Some(tail) = report.torn_tail {
        writeln!(out, "  {}", describe_tail(&tail))?;
    }
    Ok(Some((start, next, torn)))
}

/// Checks a topic's positions file, when it has one, against its partitions' extents;
/// prints a line per problem (or one `ok:` line) and returns the number of problems.
fn verify_positions(
    out: &mut impl Write,
    topic: &Topic,
    extents: &BTreeMap<u32, Extent>,
) -> Result<usize, CliError> {
    let Some(path) = topic.positions_file() else {
        return Ok(0);
    };
    let entries = match Positions::read_file(&path) {
        Ok(entries) => entries,
        Err(error) => {
            writeln!(out, "{}: {error}", failure_word(&error))?;
            return Ok(1);
        }
    };

    // Each stored position against its partition; another partition's when `DIR` named
    // one partition are not this command's business.
    let mut problems = 0;
    let mine = entries
        .iter()
        .filter(|(_, partition, _)| topic.only.map_or(true, |only| only == *partition));
    for (subscription, partition, position) in mine {
        let extent = extents.get(partition).copied();
        let missing = || path.with_file_name(partition_dir_name(*partition));
        if let Some(problem) =
            position_problem(subscription, *partition, *position, extent, missing)
        {
            writeln!(out, "lost: {}: {problem}", path.display())?;
            problems += 1;
        }
    }
    if problems == 0 {
        let n = entries.len();
        writeln!(out, "ok: {}: {n} positions", path.display())?;
    }
    Ok(problems)
}

/// What is wrong with a stored position, given its partition's extent (outer `None`: the
/// partition directory does not exist; inner `None`: it could not be read, already told).
fn position_problem(
    subscription: &str,
    partition: u32,
    position: u64,
    extent: Option<Extent>,
    missing: impl FnOnce() -> PathBuf,
) -> Option<String> {
    let at = format!("positions of {subscription} on partition {partition} at {position}");
    match extent {
        None => Some(format!(
            "{at} are past the end of the log (next offset 0: no directory {}): \
             records were lost",
            missing().display()
        )),
        Some(None) => None,
        // NB: a torn tail may have held frames consumers acknowledged before the crash;
        // opening the log cuts them and those consumers resume at the new end.
        Some(Some((_, next, false))) if position > next => Some(format!(
            "{at} are past the end of the log (next offset {next}): records were lost"
        )),
        Some(Some((start, _, _))) if position < start => Some(format!(
            "{at} are before the start of the log (start offset {start}): records were lost"
        )),
        Some(Some(_)) => None,
    }
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
const FIELD_ORDER: [&str; 9] = [
    "dir",
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
        let fields = describe(partition, dir, &record?);
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
        let mut fields = describe(partition, dir, &record);
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

/// The fields shown for a record: log fields, then the envelope's when it decodes, else
/// the partition directory `dir` and the decode error.
fn describe(partition: Option<u32>, dir: &Path, record: &Record<'_>) -> Map<String, Value> {
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
            if let Ok(key) = frame.key() {
                fields.insert("key".into(), json!(key_text(key)));
            }
            fields.insert("frame_offset".into(), json!(frame.offset()));
        }
        Err(error) => {
            fields.insert("dir".into(), json!(dir.display().to_string()));
            fields.insert("decode_error".into(), json!(error.to_string()));
        }
    }
    fields
}

/// A key as shown: itself when it is UTF-8 without control characters and does not start
/// with `0x`, else `0x` and its bytes in lowercase hex (so the two forms never collide).
fn key_text(key: &[u8]) -> String {
    let text = std::str::from_utf8(key).ok();
    let readable = text.filter(|t| !t.starts_with("0x") && !t.chars().any(char::is_control));
    readable.map_or_else(|| format!("0x{}", hex(key)), str::to_owned)
}

/// A field value in a text line: strings quoted and escaped, the rest as JSON.
fn plain(value: &Value) -> String {
    match value {
        Value::String(s) => format!("{s:?}"),
        other => other.to_string(),
    }
}

/// `bytes` in lowercase hex, two digits a byte.
fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

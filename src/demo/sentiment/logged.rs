//! The demo with its topics on disk: resuming an interrupted run (`--log DIR`), and
//! running the pipeline again from a recorded log (`--replay DIR`).
//!
//! # Resuming
//!
//! With `--log DIR` the posts, scores and dead letters are durable. A run that is
//! interrupted leaves them in `DIR`; running the same command again:
//!
//! - the reader starts after the last post logged (the sum of the posts partitions'
//!   next offsets: it publishes in sequence, one offset per post);
//! - the scorers and the aggregator resume after their last acknowledged frames (the
//!   runtime replays the rest from the logs);
//! - the aggregator's tally is rebuilt from the scores it acknowledged before (those in
//!   the scores log below its stored positions), and it counts each post once, by key,
//!   since delivery is at least once and a post may have been scored twice;
//! - the dead letters acknowledged before are counted once each, by original topic,
//!   partition and offset.
//!
//! So the final report equals that of an uninterrupted run over the same input.
//!
//! # Replaying
//!
//! `--replay DIR` reads the posts recorded in `DIR` (every partition, in offset order)
//! and runs them through fresh scorers and aggregator with the deterministic clock: each
//! handler's `ctx.now()` is the recorded time of the frame it handles. The scores topic
//! has as many partitions as the posts topic and the same key, so each scores partition
//! is written by one scorer in the order of one posts partition: two replays of one log
//! write byte-identical scores logs (with `--log OUT`).

use std::collections::HashSet;
use std::path::Path;

use crate::demo::sentiment::agents::{score_digest, Tally};
use crate::demo::sentiment::DemoError;
use crate::frame::envelope_capnp::dead_letter;
use crate::frame::sentiment_capnp::score;
use crate::frame::FrameRef;
use crate::log::{partition_dir_name, LogError, LogSnapshot, Positions};

/// The directory of partition `p` of `topic` under `dir`.
fn partition_dir(dir: &Path, topic: &str, p: u32) -> std::path::PathBuf {
    dir.join(topic).join(partition_dir_name(p))
}

fn log_error(dir: &Path, error: LogError) -> DemoError {
    DemoError::Log {
        dir: dir.to_owned(),
        source: Box::new(error),
    }
}

/// Calls `each(offset, frame)` for every record of `topic`'s partition `p` under `dir`
/// below `until`; a partition that was never written is empty.
fn for_each_record(
    dir: &Path,
    topic: &str,
    p: u32,
    until: u64,
    mut each: impl FnMut(u64, &[u8]),
) -> Result<(), DemoError> {
    let path = partition_dir(dir, topic, p);
    if !path.exists() {
        return Ok(());
    }
    let (snapshot, _) = LogSnapshot::open(&path).map_err(|e| log_error(&path, e))?;
    let mut reader = snapshot.handle().reader_from_start();
    while let Some(record) = reader.next() {
        let record = record.map_err(|e| log_error(&path, e))?;
        if record.offset >= until {
            break;
        }
        each(record.offset, record.frame);
    }
    Ok(())
}

/// Posts already logged: where the reader resumes.
pub(crate) fn posts_logged(dir: &Path, partitions: u32) -> Result<u64, DemoError> {
    let mut total = 0;
    for p in 0..partitions {
        let path = partition_dir(dir, "posts", p);
        if path.exists() {
            let (snapshot, _) = LogSnapshot::open(&path).map_err(|e| log_error(&path, e))?;
            total += snapshot.handle().next_offset();
        }
    }
    Ok(total)
}

/// The stored position of `subscription` on `topic`'s partition `p`, or 0.
fn position(dir: &Path, topic: &str, subscription: &str, p: u32) -> Result<u64, DemoError> {
    let path = dir.join(topic);
    if !path.exists() {
        return Ok(0);
    }
    let positions = Positions::open(&path).map_err(|e| log_error(&path, e))?;
    Ok(positions.get(subscription, p).unwrap_or(0))
}

/// Adds to `tally` the scores the aggregator acknowledged in earlier runs.
pub(crate) fn preload_tally(dir: &Path, partitions: u32, tally: &Tally) -> Result<(), DemoError> {
    for p in 0..partitions {
        let until = position(dir, "scores", "aggregate", p)?;
        for_each_record(dir, "scores", p, until, |_, frame| {
            let Ok(frame) = FrameRef::decode(frame) else {
                return;
            };
            let (Ok(key), Ok(score)) = (frame.key(), frame.payload::<score::Owned>()) else {
                return;
            };
            tally.add_once(
                key,
                score.get_rating(),
                score.get_compound(),
                score_digest(&score),
                None,
                0,
            );
        })?;
    }
    Ok(())
}

/// The dead letters the host acknowledged in earlier runs, as (topic, partition, offset).
pub(crate) fn earlier_dead_letters(dir: &Path) -> Result<HashSet<(String, u32, u64)>, DemoError> {
    let mut seen = HashSet::new();
    let until = position(dir, crate::runtime::DEAD_LETTER_TOPIC, "demo-host", 0)?;
    for_each_record(
        dir,
        crate::runtime::DEAD_LETTER_TOPIC,
        0,
        until,
        |_, frame| {
            if let Some(id) = dead_letter_id(frame) {
                seen.insert(id);
            }
        },
    )?;
    Ok(seen)
}

/// The original (topic, partition, offset) of a dead-letter frame.
pub(crate) fn dead_letter_id(frame: &[u8]) -> Option<(String, u32, u64)> {
    let frame = FrameRef::decode(frame).ok()?;
    let letter = frame.payload::<dead_letter::Owned>().ok()?;
    let topic = letter.get_topic().ok()?.to_str().ok()?.to_owned();
    Some((topic, letter.get_partition(), letter.get_offset()))
}

/// The recorded posts of `dir`: every partition's frames, in offset order, partition by
/// partition.
pub(crate) fn recorded_posts(dir: &Path) -> Result<Vec<Vec<u8>>, DemoError> {
    let mut frames = Vec::new();
    let mut p = 0;
    while partition_dir(dir, "posts", p).exists() {
        for_each_record(dir, "posts", p, u64::MAX, |_, frame| {
            frames.push(frame.to_vec())
        })?;
        p += 1;
    }
    if p == 0 {
        return Err(DemoError::Options(format!(
            "{} holds no posts log (expected {}/posts/p0000)",
            dir.display(),
            dir.display()
        )));
    }
    Ok(frames)
}

/// The file in a `--log` directory that says which job it holds.
const JOB_FILE: &str = "job.json";

/// Records `job` as the job of `dir`, or checks that `dir` already holds this job: a log
/// resumed with other input or options would count two jobs as one.
pub(crate) fn claim_job(dir: &Path, job: &serde_json::Value) -> Result<(), DemoError> {
    let path = dir.join(JOB_FILE);
    match std::fs::read(&path) {
        Ok(bytes) => {
            let held: serde_json::Value = serde_json::from_slice(&bytes).map_err(|e| {
                DemoError::Options(format!("{} is not a job description: {e}", path.display()))
            })?;
            if &held != job {
                return Err(DemoError::Options(format!(
                    "{} holds another job ({held}), not this one ({job}): resume it with the same \
                     input and options, or use another directory",
                    dir.display()
                )));
            }
            Ok(())
        }
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
            let io = |source| DemoError::Input {
                path: path.clone(),
                source,
            };
            std::fs::create_dir_all(dir).map_err(io)?;
            std::fs::write(&path, job.to_string()).map_err(io)
        }
        Err(source) => Err(DemoError::Input { path, source }),
    }
}

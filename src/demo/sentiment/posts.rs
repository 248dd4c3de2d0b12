//! Parser for the human-rated posts of the VADER ground-truth corpus.
//!
//! The sentiment demo scores real social-media posts that were rated by people. The corpus
//! comes from the study that introduced VADER (Hutto & Gilbert, "VADER: A Parsimonious
//! Rule-based Model for Sentiment Analysis of Social Media Text", ICWSM 2014), where each post
//! carries the mean of at least twenty human ratings on a scale from -4 to +4.
//!
//! # Format
//!
//! One post per line, three fields separated by tabs:
//!
//! ```text
//! id <TAB> mean_rating <TAB> text
//! 1      2.8             Somehow I was blessed with some really amazing luck &amp; ...
//! ```
//!
//! - lines end in CRLF and the last line has no line end at all;
//! - the text keeps HTML entities (`&amp;`, `&lt;`, `&gt;`), which are decoded here;
//! - the text may itself contain tabs, so everything after the second tab is text.
//!
//! # Errors
//!
//! A malformed line (a missing or empty field, an id that is not an unsigned integer, a
//! rating that is not a finite number, bytes that are not UTF-8) yields a [`PostError`] that
//! names the line and the reason, and reading goes on with the next line. Only a failure of
//! the underlying reader ends the iteration.

use std::fmt;
use std::fs::File;
use std::io::{self, BufRead, BufReader};
use std::num::{ParseFloatError, ParseIntError};
use std::path::Path;

use serde::{Deserialize, Serialize};
use thiserror::Error;

/// One rated post.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Post {
    /// Identifier of the post in the corpus.
    pub id: u64,
    /// Mean human sentiment rating, from -4 (most negative) to +4 (most positive).
    pub rating: f64,
    /// Text of the post, HTML entities decoded.
    pub text: String,
}

/// A field of a post line, named in errors.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Field {
    /// The first field, the post id.
    Id,
    /// The second field, the mean rating.
    Rating,
    /// The third field, the text.
    Text,
}

impl fmt::Display for Field {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = match self {
            Field::Id => "id",
            Field::Rating => "rating",
            Field::Text => "text",
        };
        f.write_str(name)
    }
}

/// Why a line of the corpus could not be read as a [`Post`].
///
/// Line numbers count from 1 and include empty lines.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum PostError {
    /// A field is absent or holds only whitespace.
    #[error("line {line}: {field} field is missing or empty")]
    MissingField {
        /// Line of the corpus.
        line: usize,
        /// The field that is missing.
        field: Field,
    },

    /// The id is not an unsigned integer.
    #[error("line {line}: id is not an unsigned integer")]
    BadId {
        /// Line of the corpus.
        line: usize,
        /// What the integer parser reported.
        #[source]
        source: ParseIntError,
    },

    /// The rating is not a number.
    #[error("line {line}: rating is not a number")]
    BadRating {
        /// Line of the corpus.
        line: usize,
        /// What the float parser reported.
        #[source]
        source: ParseFloatError,
    },

    /// The rating parsed but is infinite or NaN.
    #[error("line {line}: rating {rating} is not finite")]
    NonFiniteRating {
        /// Line of the corpus.
        line: usize,
        /// The value that was read.
        rating: f64,
    },

    /// The line is not valid UTF-8.
    #[error("line {line}: text is not valid utf-8")]
    NotUtf8 {
        /// Line of the corpus.
        line: usize,
    },

    /// The underlying reader failed; no further lines are read.
    #[error("line {line}: read failed")]
    Io {
        /// Line that was being read.
        line: usize,
        /// What the reader reported.
        #[source]
        source: io::Error,
    },
}

impl PostError {
    /// The line of the corpus the error is about, counting from 1.
    pub fn line(&self) -> usize {
        match self {
            PostError::MissingField { line, .. }
            | PostError::BadId { line, .. }
            | PostError::BadRating { line, .. }
            | PostError::NonFiniteRating { line, .. }
            | PostError::NotUtf8 { line }
            | PostError::Io { line, .. } => *line,
        }
    }
}

/// Parses one line of the corpus into a [`Post`].
///
/// A trailing CR (and LF) is removed, surrounding spaces are trimmed from the id and rating,
/// and HTML entities in the text are decoded (see [`decode_entities`]). `line_no` is only
/// used to label errors.
///
/// # Errors
///
/// [`PostError::MissingField`], [`PostError::BadId`], [`PostError::BadRating`] or
/// [`PostError::NonFiniteRating`], each naming `line_no`.
///
/// # Examples
///
/// ```
/// # use agentlane::demo::sentiment::posts::parse_line;
/// let post = parse_line("7\t-1.5\tcats &amp; dogs\r", 1).unwrap();
/// assert_eq!((post.id, post.rating, post.text.as_str()), (7, -1.5, "cats & dogs"));
/// ```
pub fn parse_line(line: &str, line_no: usize) -> Result<Post, PostError> {
    let line = line.trim_end_matches(['\r', '\n']);
    let mut fields = line.splitn(3, '\t');

    let id = required(fields.next(), Field::Id, line_no)?;
    let rating = required(fields.next(), Field::Rating, line_no)?;
    let text = required(fields.next(), Field::Text, line_no)?;

    let id = id.parse::<u64>().map_err(|source| PostError::BadId {
        line: line_no,
        source,
    })?;
    let rating = parse_rating(rating, line_no)?;

    Ok(Post {
        id,
        rating,
        text: decode_entities(text),
    })
}

/// Returns the trimmed field, or the error naming it when absent or blank.
fn required(field: Option<&str>, name: Field, line: usize) -> Result<&str, PostError> {
    match field.map(str::trim) {
        Some(value) if !value.is_empty() => Ok(value),
        _ => Err(PostError::MissingField { line, field: name }),
    }
}

/// Parses a rating and rejects infinities and NaN.
fn parse_rating(value: &str, line: usize) -> Result<f64, PostError> {
    let rating = value
        .parse::<f64>()
        .map_err(|source| PostError::BadRating { line, source })?;

    if !rating.is_finite() {
        return Err(PostError::NonFiniteRating { line, rating });
    }
    Ok(rating)
}

/// Decodes the HTML entities that occur in scraped posts.
///
/// Handles `&amp;`, `&lt;`, `&gt;`, `&quot;`, `&apos;` and numeric references such as
/// `&#39;` or `&#x1F600;`. Anything else, including a numeric reference that names no valid
/// character, is left as written.
///
/// # Examples
///
/// ```
/// # use agentlane::demo::sentiment::posts::decode_entities;
/// assert_eq!(decode_entities("a &lt;3 b &#39;c&#x27; &bogus;"), "a <3 b 'c' &bogus;");
/// ```
#[must_use]
pub fn decode_entities(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;

    while let Some(amp) = rest.find('&') {
        out.push_str(&rest[..amp]);
        rest = &rest[amp..];

        // An entity runs from `&` to a nearby `;`; decode it or keep the `&` literally.
        let semi = rest.bytes().take(MAX_ENTITY_LEN).position(|b| b == b';');
        let decoded = semi.and_then(|semi| Some((entity(&rest[1..semi])?, semi)));
        match decoded {
            Some((ch, semi)) => {
                out.push(ch);
                rest = &rest[semi + 1..];
            }
            None => {
                out.push('&');
                rest = &rest[1..];
            }
        }
    }

    out.push_str(rest);
    out
}

/// Longest entity looked at, `&` and `;` included (`&#x10FFFF;` is the longest we decode).
const MAX_ENTITY_LEN: usize = 12;

/// The character an entity name (the part between `&` and `;`) stands for.
fn entity(name: &str) -> Option<char> {
    match name {
        "amp" => Some('&'),
        "lt" => Some('<'),
        "gt" => Some('>'),
        "quot" => Some('"'),
        "apos" => Some('\''),
        _ => numeric_entity(name.strip_prefix('#')?),
    }
}

/// The character of a numeric reference, decimal (`39`) or hexadecimal (`x27`).
fn numeric_entity(digits: &str) -> Option<char> {
    let (digits, radix) = match digits.strip_prefix(['x', 'X']) {
        Some(hex) => (hex, 16),
        None => (digits, 10),
    };

    // NB: `from_str_radix` accepts a leading `+`, which HTML does not.
    if digits.is_empty() || !digits.chars().all(|c| c.is_digit(radix)) {
        return None;
    }
    let code = u32::from_str_radix(digits, radix).ok()?;
    char::from_u32(code).filter(|&c| c != '\0')
}

/// Iterator over the posts of a corpus, one [`Result`] per non-empty line.
///
/// Empty lines (or lines of only whitespace) are skipped but still counted, so the line
/// numbers in errors match what an editor shows. A malformed line yields an error and the
/// iteration goes on; a failing reader yields [`PostError::Io`] once and then ends it.
///
/// # Examples
///
/// ```
/// # use agentlane::demo::sentiment::posts::PostReader;
/// let corpus = "1\t2.5\tgreat\r\n\r\n2\tbad\toops\r\n3\t-1\tmeh";
/// let results: Vec<_> = PostReader::new(corpus.as_bytes()).collect();
/// assert_eq!(results.len(), 3);
/// assert_eq!(results[1].as_ref().unwrap_err().line(), 3);
/// ```
#[derive(Debug)]
pub struct PostReader<R: BufRead> {
    /// Source of the corpus bytes.
    reader: R,
    /// Bytes of the current line, reused between lines.
    buf: Vec<u8>,
    /// Number of the last line read, counting from 1.
    line: usize,
    /// Set once the reader has reached its end or failed.
    done: bool,
}

impl<R: BufRead> PostReader<R> {
    /// Creates a reader over a corpus, starting at line 1.
    pub fn new(reader: R) -> Self {
        Self {
            reader,
            buf: Vec::new(),
            line: 0,
            done: false,
        }
    }

    /// The number of the last line read, counting from 1 (0 before the first).
    pub fn line(&self) -> usize {
        self.line
    }

    /// Reads the next line into `buf`; returns `Ok(false)` at the end of the input.
    fn next_line(&mut self) -> io::Result<bool> {
        self.buf.clear();
        let read = self.reader.read_until(b'\n', &mut self.buf)?;
        if read > 0 {
            self.line += 1;
        }
        Ok(read > 0)
    }

    /// Parses the line in `buf`; `None` when it is blank.
    fn parse_current(&self) -> Option<Result<Post, PostError>> {
        let Ok(text) = std::str::from_utf8(&self.buf) else {
            return Some(Err(PostError::NotUtf8 { line: self.line }));
        };

        // The first line may open with a byte-order mark.
        let text = if self.line == 1 {
            text.trim_start_matches('\u{feff}')
        } else {
            text
        };
        if text.trim().is_empty() {
            return None;
        }
        Some(parse_line(text, self.line))
    }
}

impl<R: BufRead> Iterator for PostReader<R> {
    type Item = Result<Post, PostError>;

    fn next(&mut self) -> Option<Self::Item> {
        while !self.done {
            match self.next_line() {
                Ok(true) => {
                    if let Some(result) = self.parse_current() {
                        return Some(result);
                    }
                }
                Ok(false) => self.done = true,
                Err(source) if source.kind() == io::ErrorKind::Interrupted => {}
                Err(source) => {
                    self.done = true;
                    return Some(Err(PostError::Io {
                        line: self.line + 1,
                        source,
                    }));
                }
            }
        }
        None
    }
}

/// Reads a whole corpus file, keeping the posts and the malformed lines apart.
///
/// # Errors
///
/// Returns the I/O error when the file cannot be opened or a read fails part way; malformed
/// lines are not errors here but come back in the second vector.
pub fn read_posts(path: impl AsRef<Path>) -> Result<(Vec<Post>, Vec<PostError>), io::Error> {
    let file = File::open(path)?;
    let mut posts = Vec::new();
    let mut malformed = Vec::new();

    for result in PostReader::new(BufReader::new(file)) {
        match result {
            Ok(post) => posts.push(post),
            Err(PostError::Io { source, .. }) => return Err(source),
            Err(error) => malformed.push(error),
        }
    }
    Ok((posts, malformed))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_named_and_numeric_entities() {
        assert_eq!(
            decode_entities("&amp;&lt;&gt;&quot;&apos;&#39;&#x41;"),
            "&<>\"''A"
        );
    }

    #[test]
    fn keeps_text_that_is_not_an_entity() {
        let cases = [
            "AT&T", "a & b", "&;", "&#;", "&#x;", "&#+5;", "&#0;", "&#xD800;", "&nbsp;",
        ];
        for case in cases {
            assert_eq!(decode_entities(case), case);
        }
    }

    #[test]
    fn decodes_after_a_stray_ampersand() {
        assert_eq!(decode_entities("R&B &amp; soul"), "R&B & soul");
        assert_eq!(decode_entities("&&amp;"), "&&");
    }

    #[test]
    fn text_may_contain_tabs() {
        let post = parse_line("1\t0.5\ta\tb", 1).unwrap();
        assert_eq!(post.text, "a\tb");
    }
}

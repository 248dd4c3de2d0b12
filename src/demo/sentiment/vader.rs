//! VADER sentiment scoring: a valence lexicon plus the rules that adjust it in context.
//!
//! # Method
//!
//! VADER (Valence Aware Dictionary and sEntiment Reasoner) is the rule-based scorer of
//! Hutto & Gilbert, "VADER: A Parsimonious Rule-based Model for Sentiment Analysis of Social
//! Media Text" (ICWSM 2014). Its lexicon gives about 7,500 words, slang terms and emoticons a
//! mean human valence between -4 and +4. A text is scored in five stages:
//!
//! 1. **Tokens.** The text is split on whitespace and ASCII punctuation is trimmed from both
//!    ends of each token, unless trimming would leave two characters or fewer: such a token
//!    is most likely an emoticon (`:)`, `</3`, `:-D`) and is kept as written.
//! 2. **Valence per token.** A token found in the lexicon (compared in lower case) starts from
//!    its lexicon valence, then:
//!    - *"no"*: "no" right before another lexicon word gives up its own valence, and a word
//!      one or two tokens after "no" (or three, through "or"/"nor") is negated;
//!    - *capitals*: when the text mixes case, a word written in ALL CAPS moves 0.733 further
//!      from zero;
//!    - *degree words*: each of the three preceding tokens that is a booster ("very",
//!      "extremely") or dampener ("barely", "kinda") moves the valence 0.293 away from or
//!      towards zero, weighted 1, 0.95 and 0.9 by distance, more if the degree word itself is
//!      in capitals;
//!    - *negation*: a negating word ("not", "never", anything with "n't") among the three
//!      preceding tokens multiplies the valence by -0.74, except in "never so/this" (an
//!      intensifier, x1.25) and "without doubt" (no change);
//!    - *phrases*: a few fixed phrases ("the shit", "bad ass", "kiss of death") replace the
//!      valence, and the two-word dampeners "kind of", "sort of", "just enough" add -0.293;
//!    - *"least"*: "least" right before the word negates it, except in "at least" and
//!      "very least".
//!
//!    Degree words, and "kind" in "kind of", score 0 themselves.
//! 3. **Contrast.** Around the first "but", valences before it are halved and valences after
//!    it are multiplied by 1.5: the clause after "but" dominates.
//! 4. **Punctuation.** Each "!" (up to four) adds 0.292 of emphasis; two or three "?" add
//!    0.18 each and more than three add 0.96. The emphasis pushes the sum away from zero.
//! 5. **Normalisation.** The sum `x` of the valences becomes the compound score
//!    `x / sqrt(x * x + 15)`, in -1..=1. The `pos`, `neg` and `neu` proportions share out the
//!    token count: each positive token weighs its valence plus one, each negative token its
//!    magnitude plus one, each neutral token one.
//!
//! The rules and constants follow the published reference implementation (`vaderSentiment`
//! 3.3.2), including two of its quirks that change scores, so that scores agree with it:
//! a preceding "so" or "this" multiplies a word by 1.25 whenever the third preceding token is
//! not a lexicon word, and the negation and phrase checks only look at preceding tokens that
//! are not themselves lexicon words.
//!
//! # Limits
//!
//! - Emoji are not translated into words, as the reference does with a second lexicon that is
//!   not vendored here; an emoji only scores if the main lexicon lists it.
//! - The reference applies "but" through a value search that can rescale the wrong token when
//!   two valences are equal; here each token is rescaled by its position.
//! - Scores are not rounded; the reference rounds `compound` to four decimals and the
//!   proportions to three.
//!
//! # Cost
//!
//! [`Vader::polarity`] allocates the token list and the valence list once per text, and a
//! lower-case copy only of tokens that contain capitals; each token is looked up in the
//! lexicon once.

use std::borrow::Cow;
use std::collections::HashMap;
use std::io;
use std::num::ParseFloatError;
use std::path::Path;

use serde::{Deserialize, Serialize};
use thiserror::Error;

/// Shift of a booster word (a dampener shifts by the negative).
const BOOSTER: f64 = 0.293;

/// Shift of a word written in ALL CAPS when the rest of the text is not.
const CAPS: f64 = 0.733;

/// Factor applied to a negated valence.
const NEGATION: f64 = -0.74;

/// Weight of a degree word one, two and three tokens before the word it modifies.
const DEGREE_DAMPING: [f64; 3] = [1.0, 0.95, 0.9];

/// Emphasis per exclamation mark, and the most marks that count.
const EXCLAMATION: f64 = 0.292;
const MAX_EXCLAMATIONS: usize = 4;

/// Emphasis per question mark when there are two or three, and the cap for more.
const QUESTION: f64 = 0.18;
const MAX_QUESTION_EMPHASIS: f64 = 0.96;

/// Factor for "never so" and "never this" in front of a word.
const NEVER_SO: f64 = 1.25;

/// Factors for valences before and after "but".
const BEFORE_BUT: f64 = 0.5;
const AFTER_BUT: f64 = 1.5;

/// The `alpha` of the compound normalisation, about the largest sum expected.
const ALPHA: f64 = 15.0;

/// Why a lexicon could not be read.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum LexiconError {
    /// The lexicon file could not be read.
    #[error("cannot read lexicon: {source}")]
    Io {
        /// What the file system reported.
        #[source]
        source: io::Error,
    },

    /// A line has no token or no valence after the first tab.
    #[error("line {line}: expected a token, a tab and a valence")]
    MissingField {
        /// Line of the lexicon, counting from 1.
        line: usize,
    },

    /// The valence is not a number.
    #[error("line {line}: valence is not a number")]
    BadValence {
        /// Line of the lexicon, counting from 1.
        line: usize,
        /// What the float parser reported.
        #[source]
        source: ParseFloatError,
    },

    /// The valence parsed but is infinite or NaN.
    #[error("line {line}: valence {valence} is not finite")]
    NonFiniteValence {
        /// Line of the lexicon, counting from 1.
        line: usize,
        /// The value that was read.
        valence: f64,
    },
}

/// The VADER lexicon: the mean human valence of each token, from -4 to +4.
///
/// Tokens are stored as written in the file; [`Vader`] looks them up in lower case.
#[derive(Debug, Clone, Default)]
pub struct Lexicon {
    /// Valence by token.
    valences: HashMap<String, f64>,
    /// Lines whose token an earlier line already defined.
    duplicates: usize,
}

impl Lexicon {
    /// Parses lexicon text: one `token <TAB> mean <TAB> ...` entry per line.
    ///
    /// Columns after the mean (standard deviation, raw ratings) are ignored, as are blank
    /// lines. When a token appears twice the later line wins, as in the reference, and the
    /// repeat is counted in [`Lexicon::duplicates`].
    ///
    /// # Errors
    ///
    /// [`LexiconError::MissingField`], [`LexiconError::BadValence`] or
    /// [`LexiconError::NonFiniteValence`] for the first malformed line.
    ///
    /// # Examples
    ///
    /// ```
    /// # use agentlane::demo::sentiment::vader::Lexicon;
    /// let lexicon = Lexicon::parse("good\t1.9\t0.9\t[2]\n:)\t2.0\t1.2\t[2]\n").unwrap();
    /// assert_eq!((lexicon.len(), lexicon.get(":)")), (2, Some(2.0)));
    /// ```
    pub fn parse(text: &str) -> Result<Self, LexiconError> {
        let mut lexicon = Self::default();

        for (index, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() {
                continue;
            }

            let (token, valence) = parse_entry(line, index + 1)?;
            if lexicon.valences.insert(token.to_owned(), valence).is_some() {
                lexicon.duplicates += 1;
            }
        }
        Ok(lexicon)
    }

    /// Reads and parses a lexicon file such as `vader_lexicon.txt`.
    ///
    /// # Errors
    ///
    /// [`LexiconError::Io`] when the file cannot be read, otherwise as [`Lexicon::parse`].
    pub fn load(path: impl AsRef<Path>) -> Result<Self, LexiconError> {
        let text = std::fs::read_to_string(path).map_err(|source| LexiconError::Io { source })?;
        Self::parse(&text)
    }

    /// Number of distinct tokens.
    pub fn len(&self) -> usize {
        self.valences.len()
    }

    /// Whether the lexicon has no tokens.
    pub fn is_empty(&self) -> bool {
        self.valences.is_empty()
    }

    /// Number of entries that redefined a token already read (the later value is kept).
    pub fn duplicates(&self) -> usize {
        self.duplicates
    }

    /// The valence of a token, matched exactly as written in the lexicon.
    pub fn get(&self, token: &str) -> Option<f64> {
        self.valences.get(token).copied()
    }
}

/// Splits a non-blank lexicon line into its token and valence.
fn parse_entry(line: &str, line_no: usize) -> Result<(&str, f64), LexiconError> {
    let mut fields = line.split('\t');
    let token = fields.next().filter(|token| !token.is_empty());
    let valence = fields
        .next()
        .map(str::trim)
        .filter(|valence| !valence.is_empty());
    let (Some(token), Some(valence)) = (token, valence) else {
        return Err(LexiconError::MissingField { line: line_no });
    };

    let valence = valence
        .parse::<f64>()
        .map_err(|source| LexiconError::BadValence {
            line: line_no,
            source,
        })?;
    if !valence.is_finite() {
        return Err(LexiconError::NonFiniteValence {
            line: line_no,
            valence,
        });
    }
    Ok((token, valence))
}

/// Sentiment of a text as VADER reports it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct Polarity {
    /// Share of the text that is negative, 0..=1.
    pub neg: f64,
    /// Share of the text that is neutral, 0..=1.
    pub neu: f64,
    /// Share of the text that is positive, 0..=1.
    pub pos: f64,
    /// Normalised overall score, -1 (most negative) ..= +1 (most positive).
    pub compound: f64,
}

/// The VADER scorer: a lexicon and the rules of the method (see the module docs).
///
/// Scoring takes `&self`, so one scorer can be shared by many threads.
///
/// # Examples
///
/// ```
/// # use agentlane::demo::sentiment::vader::{Lexicon, Vader};
/// let vader = Vader::new(Lexicon::parse("good\t1.9").unwrap());
/// assert!(vader.polarity("The book was good.").compound > 0.4);
/// assert!(vader.polarity("The book was not good.").compound < 0.0);
/// ```
#[derive(Debug, Clone)]
pub struct Vader {
    /// Valences of the known tokens.
    lexicon: Lexicon,
}

impl Vader {
    /// Creates a scorer over a lexicon.
    pub fn new(lexicon: Lexicon) -> Self {
        Self { lexicon }
    }

    /// The lexicon the scorer uses.
    pub fn lexicon(&self) -> &Lexicon {
        &self.lexicon
    }

    /// Scores a text. A text without tokens scores all zeros.
    #[must_use]
    pub fn polarity(&self, text: &str) -> Polarity {
        let sentence = Sentence::new(text, &self.lexicon);

        let mut valences: Vec<f64> = (0..sentence.tokens.len())
            .map(|i| sentence.valence(i))
            .collect();
        sentence.shift_around_but(&mut valences);

        Polarity::from_valences(&valences, punctuation_emphasis(text))
    }
}

/// One token of a text.
#[derive(Debug)]
struct Token<'t> {
    /// The token as written, outer punctuation trimmed.
    raw: &'t str,
    /// The token in lower case; borrowed when it already is.
    lower: Cow<'t, str>,
    /// Lexicon valence of the lower-case token.
    valence: Option<f64>,
}

/// A tokenised text with what the rules need to know about it.
#[derive(Debug)]
struct Sentence<'t> {
    /// The tokens in order.
    tokens: Vec<Token<'t>>,
    /// Whether some but not all tokens are in ALL CAPS.
    mixed_case: bool,
}

impl<'t> Sentence<'t> {
    /// Tokenises `text` and looks every token up in `lexicon`.
    fn new(text: &'t str, lexicon: &Lexicon) -> Self {
        let tokens: Vec<Token<'t>> = text
            .split_whitespace()
            .map(trim_punctuation)
            .map(|raw| {
                let lower = lowercase(raw);
                let valence = lexicon.get(&lower);
                Token {
                    raw,
                    lower,
                    valence,
                }
            })
            .collect();

        let shouting = tokens.iter().filter(|token| is_all_caps(token.raw)).count();
        let mixed_case = shouting > 0 && shouting < tokens.len();
        Self { tokens, mixed_case }
    }

    /// The lower-case token at `i`, or `""` past either end.
    fn word(&self, i: usize) -> &str {
        self.tokens.get(i).map_or("", |token| &token.lower)
    }

    /// The lower-case token `distance` places before `i`, or `""` before the start.
    fn before(&self, i: usize, distance: usize) -> &str {
        i.checked_sub(distance).map_or("", |j| self.word(j))
    }

    /// Whether the token at `i` is a lexicon word (false past the end).
    fn in_lexicon(&self, i: usize) -> bool {
        self.tokens
            .get(i)
            .is_some_and(|token| token.valence.is_some())
    }

    /// Whether the token at `i` is written in ALL CAPS within a mixed-case text.
    fn shouted(&self, i: usize) -> bool {
        self.mixed_case && is_all_caps(self.tokens[i].raw)
    }

    /// The valence of token `i` after the per-token rules (stage 2 of the method).
    fn valence(&self, i: usize) -> f64 {
        let token = &self.tokens[i];

        // Degree words only modify their neighbours.
        if booster(&token.lower).is_some() || (token.lower == "kind" && self.word(i + 1) == "of") {
            return 0.0;
        }
        let Some(lexical) = token.valence else {
            return 0.0;
        };

        let mut valence = self.after_no(i, lexical);
        if self.shouted(i) {
            valence += if valence > 0.0 { CAPS } else { -CAPS };
        }

        for distance in 1..=3 {
            valence = self.modified_by(i, distance, valence);
        }
        self.after_least(i, valence)
    }

    /// Applies the "no" rules to the lexicon valence of token `i`.
    fn after_no(&self, i: usize, lexical: f64) -> f64 {
        let negated = self.before(i, 1) == "no"
            || self.before(i, 2) == "no"
            || (self.before(i, 3) == "no" && matches!(self.before(i, 1), "or" | "nor"));
        if negated {
            return lexical * NEGATION;
        }

        // "no" before another lexicon word acts as a negation, not as a word of its own.
        if self.word(i) == "no" && self.in_lexicon(i + 1) {
            return 0.0;
        }
        lexical
    }

    /// Applies the token `distance` places before `i`: degree, negation and phrase rules.
    fn modified_by(&self, i: usize, distance: usize, valence: f64) -> f64 {
        // NB: a preceding lexicon word blocks every rule at its distance.
        let Some(j) = i.checked_sub(distance) else {
            return valence;
        };
        if self.in_lexicon(j) {
            return valence;
        }

        let shift = self.degree_shift(j, valence) * DEGREE_DAMPING[distance - 1];
        let valence = self.negated(i, distance, valence + shift);
        if distance == 3 {
            return self.in_phrase(i, valence);
        }
        valence
    }

    /// The shift a degree word at `j` gives to a word of the given valence (0 if none).
    fn degree_shift(&self, j: usize, valence: f64) -> f64 {
        let Some(scalar) = booster(&self.tokens[j].lower) else {
            return 0.0;
        };

        // Boosters push away from zero, dampeners towards it, whatever the sign.
        let mut shift = if valence < 0.0 { -scalar } else { scalar };
        if self.shouted(j) {
            shift += if valence > 0.0 { CAPS } else { -CAPS };
        }
        shift
    }

    /// Applies the negation rule for the token `distance` places before `i`.
    fn negated(&self, i: usize, distance: usize, valence: f64) -> f64 {
        let (w1, w2, w3) = (self.before(i, 1), self.before(i, 2), self.before(i, 3));
        let so_or_this = |word: &str| matches!(word, "so" | "this");

        let (intensified, kept, negator) = match distance {
            1 => (false, false, w1),
            2 => (
                w2 == "never" && so_or_this(w1),
                w2 == "without" && w1 == "doubt",
                w2,
            ),
            // NB: the reference also intensifies any word right after "so"/"this" here.
            _ => (
                (w3 == "never" && so_or_this(w2)) || so_or_this(w1),
                w3 == "without" && (w2 == "doubt" || w1 == "doubt"),
                w3,
            ),
        };

        if intensified {
            valence * NEVER_SO
        } else if kept || !is_negation(negator) {
            valence
        } else {
            valence * NEGATION
        }
    }

    /// Applies the fixed phrases and the two-word dampeners around token `i` (`i >= 3`).
    fn in_phrase(&self, i: usize, valence: f64) -> f64 {
        let [w3, w2, w1, w0] = [3, 2, 1, 0].map(|distance| self.before(i, distance));
        let (n1, n2) = (self.word(i + 1), self.word(i + 2));
        let mut valence = valence;

        // A phrase ending at or before the word sets its valence; the first match wins.
        let behind: [&[&str]; 5] = [
            &[w1, w0],
            &[w2, w1, w0],
            &[w2, w1],
            &[w3, w2, w1],
            &[w3, w2],
        ];
        if let Some(phrase) = behind.iter().find_map(|words| phrase_valence(words)) {
            valence = phrase;
        }

        // A phrase starting at the word overrides that, the longer one last.
        for ahead in [&[w0, n1][..], &[w0, n1, n2][..]] {
            if let Some(phrase) = phrase_valence(ahead) {
                valence = phrase;
            }
        }

        // Two-word dampeners before the word add their shift without regard to sign.
        for words in [&[w3, w2, w1][..], &[w3, w2], &[w2, w1]] {
            valence += phrase_booster(words).unwrap_or(0.0);
        }
        valence
    }

    /// Applies the "least" rule: "least X" negates X unless it reads "at/very least X".
    fn after_least(&self, i: usize, valence: f64) -> f64 {
        if i == 0 || self.before(i, 1) != "least" || self.in_lexicon(i - 1) {
            return valence;
        }
        if matches!(self.before(i, 2), "at" | "very") {
            return valence;
        }
        valence * NEGATION
    }

    /// Halves the valences before the first "but" and raises those after it by half.
    fn shift_around_but(&self, valences: &mut [f64]) {
        let Some(but) = self.tokens.iter().position(|token| token.lower == "but") else {
            return;
        };

        for valence in &mut valences[..but] {
            *valence *= BEFORE_BUT;
        }
        for valence in &mut valences[but + 1..] {
            *valence *= AFTER_BUT;
        }
    }
}

impl Polarity {
    /// Combines the final token valences and the punctuation emphasis (stage 5).
    fn from_valences(valences: &[f64], emphasis: f64) -> Self {
        if valences.is_empty() {
            return Self::default();
        }

        // The emphasis pushes the sum away from zero, if it has a sign.
        let sum: f64 = valences.iter().sum();
        let sum = if sum > 0.0 {
            sum + emphasis
        } else if sum < 0.0 {
            sum - emphasis
        } else {
            sum
        };
        let compound = (sum / (sum * sum + ALPHA).sqrt()).clamp(-1.0, 1.0);

        // Each sentiment-bearing token weighs one more than its magnitude.
        let mut positive: f64 = valences.iter().filter(|v| **v > 0.0).map(|v| v + 1.0).sum();
        let mut negative: f64 = valences.iter().filter(|v| **v < 0.0).map(|v| 1.0 - v).sum();
        let neutral = valences.iter().filter(|v| **v == 0.0).count() as f64;

        // The emphasis also goes to whichever side dominates.
        if positive > negative {
            positive += emphasis;
        } else if positive < negative {
            negative += emphasis;
        }

        let total = positive + negative + neutral;
        Self {
            neg: negative / total,
            neu: neutral / total,
            pos: positive / total,
            compound,
        }
    }
}

/// Trims ASCII punctuation from both ends of a token, unless that would leave two
/// characters or fewer (then the token is probably an emoticon and kept whole).
fn trim_punctuation(token: &str) -> &str {
    let trimmed = token.trim_matches(|c: char| c.is_ascii_punctuation());
    if trimmed.chars().nth(2).is_none() {
        token
    } else {
        trimmed
    }
}

/// The lower-case form of a token, copied only when it has capitals.
fn lowercase(token: &str) -> Cow<'_, str> {
    if token.is_ascii() && !token.bytes().any(|b| b.is_ascii_uppercase()) {
        return Cow::Borrowed(token);
    }
    if token.is_ascii() {
        return Cow::Owned(token.to_ascii_lowercase());
    }
    Cow::Owned(token.to_lowercase())
}

/// Whether a token has at least one cased letter and no lower-case letter.
fn is_all_caps(token: &str) -> bool {
    let mut cased = false;
    for c in token.chars() {
        if c.is_lowercase() {
            return false;
        }
        cased |= c.is_uppercase();
    }
    cased
}

/// Negating words without an apostrophe, sorted for binary search.
const NEGATIONS: &[&str] = &[
    "aint", "arent", "cannot", "cant", "couldnt", "darent", "despite", "didnt", "doesnt", "dont",
    "hadnt", "hasnt", "havent", "isnt", "mightnt", "mustnt", "neednt", "neither", "never", "none",
    "nope", "nor", "not", "nothing", "nowhere", "oughtnt", "rarely", "seldom", "shant", "shouldnt",
    "uh-uh", "uhuh", "wasnt", "werent", "without", "wont", "wouldnt",
];

/// Booster words (degree adverbs that intensify), sorted for binary search.
const BOOSTERS: &[&str] = &[
    "absolutely",
    "amazingly",
    "awfully",
    "completely",
    "considerable",
    "considerably",
    "decidedly",
    "deeply",
    "effing",
    "enormous",
    "enormously",
    "entirely",
    "especially",
    "exceptional",
    "exceptionally",
    "extreme",
    "extremely",
    "fabulously",
    "flippin",
    "flipping",
    "frackin",
    "fracking",
    "frickin",
    "fricking",
    "friggin",
    "frigging",
    "fuckin",
    "fucking",
    "fuggin",
    "fugging",
    "fully",
    "greatly",
    "hella",
    "highly",
    "hugely",
    "incredible",
    "incredibly",
    "intensely",
    "major",
    "majorly",
    "more",
    "most",
    "particularly",
    "purely",
    "quite",
    "really",
    "remarkably",
    "so",
    "substantially",
    "thoroughly",
    "total",
    "totally",
    "tremendous",
    "tremendously",
    "uber",
    "unbelievably",
    "unusually",
    "utter",
    "utterly",
    "very",
];

/// Dampener words (degree adverbs that weaken), sorted for binary search.
const DAMPENERS: &[&str] = &[
    "almost",
    "barely",
    "hardly",
    "kind-of",
    "kinda",
    "kindof",
    "less",
    "little",
    "marginal",
    "marginally",
    "occasional",
    "occasionally",
    "partly",
    "scarce",
    "scarcely",
    "slight",
    "slightly",
    "somewhat",
    "sort-of",
    "sorta",
    "sortof",
];

/// Whether a lower-case word negates what follows it.
fn is_negation(word: &str) -> bool {
    word.contains("n't") || NEGATIONS.binary_search(&word).is_ok()
}

/// The shift of a one-word booster (positive) or dampener (negative), if `word` is one.
fn booster(word: &str) -> Option<f64> {
    if BOOSTERS.binary_search(&word).is_ok() {
        Some(BOOSTER)
    } else if DAMPENERS.binary_search(&word).is_ok() {
        Some(-BOOSTER)
    } else {
        None
    }
}

/// The shift of a two-word dampener such as "kind of", if `words` is one.
fn phrase_booster(words: &[&str]) -> Option<f64> {
    match words {
        ["just", "enough"] | ["kind", "of"] | ["sort", "of"] => Some(-BOOSTER),
        _ => None,
    }
}

/// The fixed valence of a phrase whose meaning differs from its words, if `words` is one.
fn phrase_valence(words: &[&str]) -> Option<f64> {
    match words {
        ["the", "shit"] | ["the", "bomb"] | ["to", "die", "for"] => Some(3.0),
        ["bad", "ass"] => Some(1.5),
        ["bus", "stop"] => Some(0.0),
        ["yeah", "right"] => Some(-2.0),
        ["kiss", "of", "death"] => Some(-1.5),
        ["beating", "heart"] => Some(3.5),
        _ => None,
    }
}

/// Emphasis from "!" and "?" anywhere in the text (stage 4 of the method).
fn punctuation_emphasis(text: &str) -> f64 {
    let exclamations = text.matches('!').count().min(MAX_EXCLAMATIONS);
    let questions = text.matches('?').count();

    let question_emphasis = match questions {
        0 | 1 => 0.0,
        2 | 3 => questions as f64 * QUESTION,
        _ => MAX_QUESTION_EMPHASIS,
    };
    exclamations as f64 * EXCLAMATION + question_emphasis
}

/// How often a scorer agrees with human raters on the sign of a text.
///
/// Only texts with a non-zero rating count; a compound score of exactly zero counts as a
/// disagreement.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SignAccuracy {
    /// Rated texts whose score has the sign of the rating.
    pub agreeing: usize,
    /// Texts with a non-zero rating.
    pub rated: usize,
}

impl SignAccuracy {
    /// Counts one text with its human rating and its compound score.
    pub fn record(&mut self, rating: f64, compound: f64) {
        if rating == 0.0 || rating.is_nan() {
            return;
        }
        self.rated += 1;
        if compound != 0.0 && (compound > 0.0) == (rating > 0.0) {
            self.agreeing += 1;
        }
    }

    /// The fraction of rated texts that agree, or `None` when none was rated.
    pub fn fraction(&self) -> Option<f64> {
        (self.rated > 0).then(|| self.agreeing as f64 / self.rated as f64)
    }
}

impl FromIterator<(f64, f64)> for SignAccuracy {
    /// Collects `(rating, compound)` pairs.
    fn from_iter<I: IntoIterator<Item = (f64, f64)>>(pairs: I) -> Self {
        let mut accuracy = Self::default();
        for (rating, compound) in pairs {
            accuracy.record(rating, compound);
        }
        accuracy
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn word_lists_are_sorted() {
        for list in [NEGATIONS, BOOSTERS, DAMPENERS] {
            assert!(list.windows(2).all(|pair| pair[0] < pair[1]));
        }
    }

    #[test]
    fn trims_punctuation_but_keeps_emoticons() {
        let tokens: Vec<&str> = "Hello, world!! :) </3 (great) :-D"
            .split_whitespace()
            .map(trim_punctuation)
            .collect();
        assert_eq!(tokens, ["Hello", "world", ":)", "</3", "great", ":-D"]);
    }

    #[test]
    fn all_caps_needs_a_cased_letter() {
        assert!(is_all_caps("SUX!"));
        assert!(is_all_caps(":D"));
        assert!(!is_all_caps("Good"));
        assert!(!is_all_caps(":)"));
    }

    #[test]
    fn lowercase_borrows_when_it_can() {
        assert!(matches!(lowercase("good"), Cow::Borrowed("good")));
        assert_eq!(lowercase("GooD"), "good");
        assert_eq!(lowercase("ÉTÉ"), "été");
    }

    #[test]
    fn question_marks_count_from_two() {
        assert_eq!(punctuation_emphasis("?"), 0.0);
        assert!((punctuation_emphasis("??") - 0.36).abs() < 1e-12);
        assert_eq!(punctuation_emphasis("????"), MAX_QUESTION_EMPHASIS);
        assert!((punctuation_emphasis("!!!!!!") - 4.0 * EXCLAMATION).abs() < 1e-12);
    }

    #[test]
    fn sign_accuracy_skips_neutral_ratings_and_zero_scores() {
        let accuracy: SignAccuracy = [(1.0, 0.5), (-1.0, 0.5), (0.0, 0.9), (2.0, 0.0)]
            .into_iter()
            .collect();
        assert_eq!(
            accuracy,
            SignAccuracy {
                agreeing: 1,
                rated: 3
            }
        );
    }
}

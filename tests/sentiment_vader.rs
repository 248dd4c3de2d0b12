//! Integration tests of the VADER scorer and the post parser on the vendored corpus.
//!
//! The corpus and lexicon are the real data of Hutto & Gilbert (ICWSM 2014), vendored under
//! `data/sentiment/`. Reference scores come from the examples shipped with the reference
//! implementation, `vaderSentiment` 3.3.2.

use std::sync::OnceLock;

use agentlane::demo::sentiment::posts::{self, Field, Post, PostError, PostReader};
use agentlane::demo::sentiment::vader::{Lexicon, Polarity, SignAccuracy, Vader};

const POSTS: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/data/sentiment/tweets_GroundTruth.txt"
);
const LEXICON: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/data/sentiment/vader_lexicon.txt"
);

/// The scorer over the real lexicon, loaded once for all tests.
fn vader() -> &'static Vader {
    static VADER: OnceLock<Vader> = OnceLock::new();
    VADER.get_or_init(|| Vader::new(Lexicon::load(LEXICON).expect("lexicon loads")))
}

fn compound(text: &str) -> f64 {
    vader().polarity(text).compound
}

// ---------------------------------------------------------------------------------------
// The real corpus

#[test]
fn corpus_parses_completely() {
    let (posts, errors) = posts::read_posts(POSTS).expect("corpus is readable");

    assert!(errors.is_empty(), "malformed lines: {errors:?}");
    assert_eq!(posts.len(), 4200);
    assert_eq!(posts.iter().filter(|post| post.rating > 0.0).count(), 2897);
    assert_eq!(posts.iter().filter(|post| post.rating < 0.0).count(), 1299);
    assert_eq!(posts.iter().filter(|post| post.rating == 0.0).count(), 4);
}

#[test]
fn corpus_text_is_decoded() {
    let (posts, _) = posts::read_posts(POSTS).expect("corpus is readable");

    assert!(posts.iter().all(|post| !post.text.ends_with('\r')));
    assert!(posts
        .iter()
        .all(|post| !post.text.contains("&amp;") && !post.text.contains("&lt;")));

    let first = &posts[0];
    assert_eq!((first.id, first.rating), (1, 2.726315789));
    assert!(
        first.text.starts_with("Somehow I was blessed"),
        "{}",
        first.text
    );
}

#[test]
fn lexicon_loads_every_entry() {
    let lexicon = vader().lexicon();

    // 7,520 lines; 14 tokens (such as "lol" and "xd") appear twice and the later line wins.
    assert_eq!(lexicon.len() + lexicon.duplicates(), 7520);
    assert_eq!(lexicon.len(), 7506);
    assert_eq!(lexicon.get("lol"), Some(1.8));
    assert_eq!(lexicon.get(":-)"), Some(1.3));
    assert_eq!(lexicon.get("</3"), Some(-3.0));
}

#[test]
fn sign_accuracy_on_the_corpus() {
    let (posts, _) = posts::read_posts(POSTS).expect("corpus is readable");

    let accuracy: SignAccuracy = posts
        .iter()
        .map(|post| (post.rating, compound(&post.text)))
        .collect();

    // Measured: 3,871 of 4,196 rated posts (0.9225), the same as the reference implementation.
    assert_eq!(accuracy.rated, 4196);
    let fraction = accuracy.fraction().expect("some posts are rated");
    assert!(fraction >= 0.80, "sign accuracy {fraction:.4}");
    assert!(fraction >= 0.92, "sign accuracy fell to {fraction:.4}");
}

#[test]
fn proportions_sum_to_one() {
    let (posts, _) = posts::read_posts(POSTS).expect("corpus is readable");

    for post in &posts {
        let Polarity {
            neg,
            neu,
            pos,
            compound,
        } = vader().polarity(&post.text);
        assert!((neg + neu + pos - 1.0).abs() < 1e-9, "post {}", post.id);
        assert!((-1.0..=1.0).contains(&compound), "post {}", post.id);
    }
}

// ---------------------------------------------------------------------------------------
// Reference values

/// Compound scores printed by the `vaderSentiment` 3.3.2 demo for its example sentences.
const REFERENCE: &[(&str, f64)] = &[
    ("VADER is smart, handsome, and funny.", 0.8316),
    ("VADER is smart, handsome, and funny!", 0.8439),
    ("VADER is very smart, handsome, and funny.", 0.8545),
    ("VADER is VERY SMART, handsome, and FUNNY.", 0.9227),
    ("VADER is VERY SMART, handsome, and FUNNY!!!", 0.9342),
    (
        "VADER is VERY SMART, uber handsome, and FRIGGIN FUNNY!!!",
        0.9469,
    ),
    ("VADER is not smart, handsome, nor funny.", -0.7424),
    ("The book was good.", 0.4404),
    ("At least it isn't a horrible book.", 0.431),
    ("The book was only kind of good.", 0.3832),
    (
        "The plot was good, but the characters are uncompelling and the dialog is not great.",
        -0.7042,
    ),
    ("Today SUX!", -0.5461),
    ("Today only kinda sux! But I'll get by, lol", 0.5249),
    ("Make sure you :) or :D today!", 0.8633),
    ("Not bad at all", 0.431),
    ("Sentiment analysis has never been good.", -0.3412),
    ("Sentiment analysis has never been this good!", 0.5672),
    ("Most automated sentiment analysis tools are shit.", -0.5574),
    ("With VADER, sentiment analysis is the shit!", 0.6476),
    ("Other sentiment analysis tools can be quite bad.", -0.5849),
    ("On the other hand, VADER is quite bad ass", 0.802),
    ("VADER is such a badass!", 0.4003),
    ("Without a doubt, excellent idea.", 0.7013),
    (
        "Roger Dodger is one of the most compelling variations on this theme.",
        0.2944,
    ),
    (
        "Roger Dodger is at least compelling as a variation on the theme.",
        0.2263,
    ),
    (
        "Roger Dodger is one of the least compelling variations on this theme.",
        -0.1695,
    ),
    ("Not such a badass after all.", -0.2584),
    ("Without a doubt, an excellent idea.", 0.7013),
];

#[test]
fn matches_reference_compound_scores() {
    for &(text, expected) in REFERENCE {
        let got = compound(text);
        assert!(
            (got - expected).abs() < 1e-3,
            "{text:?}: got {got:.4}, reference {expected}"
        );
    }
}

#[test]
fn matches_reference_proportions() {
    let Polarity { neg, neu, pos, .. } = vader().polarity("VADER is smart, handsome, and funny.");
    assert!(neg.abs() < 1e-3 && (neu - 0.254).abs() < 1e-3 && (pos - 0.746).abs() < 1e-3);

    let polarity = vader().polarity(
        "The plot was good, but the characters are uncompelling and the dialog is not great.",
    );
    assert!((polarity.neg - 0.327).abs() < 1e-3);
    assert!((polarity.neu - 0.579).abs() < 1e-3);
    assert!((polarity.pos - 0.094).abs() < 1e-3);
}

// ---------------------------------------------------------------------------------------
// One rule at a time

#[test]
fn lexicon_words_carry_their_sign() {
    assert!(compound("The book was good.") > 0.0);
    assert!(compound("The book was horrible.") < 0.0);
    assert_eq!(
        vader().polarity("The book has pages."),
        Polarity {
            neu: 1.0,
            ..Polarity::default()
        }
    );
}

#[test]
fn empty_text_scores_zero() {
    assert_eq!(vader().polarity(""), Polarity::default());
    assert_eq!(vader().polarity("   \t "), Polarity::default());
}

#[test]
fn negation_flips_sign() {
    assert!(compound("The book was not good.") < 0.0);
    assert!(compound("The book wasn't good.") < 0.0);
    assert!(compound("It is not bad.") > 0.0);
    // Up to three words back.
    assert!(compound("I never thought it was good.") > 0.0);
    assert!(compound("It was never very good.") < 0.0);
}

#[test]
fn never_so_intensifies() {
    assert!(compound("It has never been so good.") > compound("It has been good."));
}

#[test]
fn no_negates_the_next_lexicon_word() {
    assert!(compound("There was no good news.") < 0.0);
    // "no" alone keeps its own (negative) valence.
    assert!(compound("no") < 0.0);
}

#[test]
fn booster_increases_magnitude() {
    assert!(compound("The book was very good.") > compound("The book was good."));
    assert!(compound("The book was very bad.") < compound("The book was bad."));
}

#[test]
fn dampener_decreases_magnitude() {
    assert!(compound("The book was slightly good.") < compound("The book was good."));
    assert!(compound("The book was kind of good.") < compound("The book was good."));
    assert!(compound("The book was kinda bad.") > compound("The book was bad."));
    // As in the reference, a two-word dampener shifts down whatever the sign.
    assert!(compound("The book was sort of bad.") < compound("The book was bad."));
}

#[test]
fn booster_weakens_with_distance() {
    let near = compound("it was very good");
    let far = compound("very it was good");
    let plain = compound("it was good");
    assert!(near > far && far > plain, "{near} {far} {plain}");
}

#[test]
fn caps_increase_magnitude_in_mixed_case() {
    assert!(compound("The book was GOOD.") > compound("The book was good."));
    assert!(compound("The book was BAD.") < compound("The book was bad."));
    // All in capitals is no emphasis.
    assert_eq!(compound("THE BOOK WAS GOOD"), compound("the book was good"));
}

#[test]
fn but_shifts_weight_to_the_second_clause() {
    assert!(compound("The food was good, but the service was terrible.") < 0.0);
    assert!(compound("The food was terrible, but the service was good.") > 0.0);
    assert!(compound("It was okay but good.") > compound("It was okay and good."));
}

#[test]
fn least_negates_unless_at_least() {
    assert!(compound("the least good idea") < 0.0);
    assert!(compound("at least good") > 0.0);
}

#[test]
fn exclamation_increases_magnitude_up_to_four() {
    let plain = compound("The book was good.");
    let one = compound("The book was good!");
    let four = compound("The book was good!!!!");
    let six = compound("The book was good!!!!!!");
    assert!(plain < one && one < four, "{plain} {one} {four}");
    assert_eq!(four, six);
    assert!(compound("The book was bad!") < compound("The book was bad."));
}

#[test]
fn question_marks_increase_magnitude_from_two() {
    assert_eq!(
        compound("Was the book good?"),
        compound("Was the book good")
    );
    assert!(compound("Was the book good??") > compound("Was the book good?"));
}

#[test]
fn emoticons_score() {
    assert!(compound(":)") > 0.0);
    assert!(compound(":-(") < 0.0);
    assert!(compound("missing you </3") < 0.0);
    assert!(compound("see you soon :D") > 0.0);
}

#[test]
fn punctuation_is_trimmed_from_words() {
    assert_eq!(compound("(good)"), compound("good"));
    assert_eq!(compound("\"good,\""), compound("good"));
}

#[test]
fn phrases_override_their_words() {
    assert!(compound("this movie is the shit") > 0.0);
    assert!(compound("that was the kiss of death") < 0.0);
}

// ---------------------------------------------------------------------------------------
// Malformed lines

#[test]
fn parses_a_crlf_line() {
    let post = posts::parse_line("42\t-0.25\thello there\r", 9).expect("line parses");
    assert_eq!(
        post,
        Post {
            id: 42,
            rating: -0.25,
            text: "hello there".into()
        }
    );
}

#[test]
fn decodes_entities_in_text() {
    let post = posts::parse_line(
        "1\t1\tR&amp;B &lt;3 &quot;hi&quot; it&#39;s &apos;x&apos; &#x263A;",
        1,
    )
    .expect("line parses");
    assert_eq!(post.text, "R&B <3 \"hi\" it's 'x' \u{263A}");
}

#[test]
fn missing_or_empty_fields_name_the_field() {
    let cases = [
        ("", Field::Id),
        ("\t1.0\ttext", Field::Id),
        ("7", Field::Rating),
        ("7\t\ttext", Field::Rating),
        ("7\t1.0", Field::Text),
        ("7\t1.0\t   \r", Field::Text),
    ];
    for (line, missing) in cases {
        match posts::parse_line(line, 3) {
            Err(PostError::MissingField { line: 3, field }) => {
                assert_eq!(field, missing, "{line:?}")
            }
            other => panic!("{line:?}: {other:?}"),
        }
    }
}

#[test]
fn bad_id_is_an_error() {
    for line in ["x\t1.0\ttext", "-3\t1.0\ttext", "1.5\t1.0\ttext"] {
        assert!(
            matches!(
                posts::parse_line(line, 4),
                Err(PostError::BadId { line: 4, .. })
            ),
            "{line:?}"
        );
    }
}

#[test]
fn bad_rating_is_an_error() {
    assert!(matches!(
        posts::parse_line("1\tgood\ttext", 5),
        Err(PostError::BadRating { line: 5, .. })
    ));
    for rating in ["NaN", "inf", "-inf", "1e400"] {
        let line = format!("1\t{rating}\ttext");
        assert!(
            matches!(
                posts::parse_line(&line, 6),
                Err(PostError::NonFiniteRating { line: 6, .. })
            ),
            "{rating}"
        );
    }
}

#[test]
fn errors_display_line_and_reason() {
    let error = posts::parse_line("1\tgood\ttext", 12).unwrap_err();
    assert_eq!(error.to_string(), "line 12: rating is not a number");
    assert_eq!(error.line(), 12);

    let error = posts::parse_line("1\t2", 13).unwrap_err();
    assert_eq!(error.to_string(), "line 13: text field is missing or empty");
}

#[test]
fn reader_skips_blank_lines_and_goes_on_after_errors() {
    let corpus = b"1\t1.0\tgood\r\n\r\nbad line\r\n  \r\n2\t-1.0\t\xff\xfe\r\n3\t-2.0\tawful";
    let results: Vec<_> = PostReader::new(&corpus[..]).collect();

    assert_eq!(results.len(), 4);
    assert_eq!(results[0].as_ref().expect("line 1").id, 1);
    assert!(matches!(
        results[1],
        Err(PostError::MissingField {
            line: 3,
            field: Field::Rating
        })
    ));
    assert!(matches!(results[2], Err(PostError::NotUtf8 { line: 5 })));
    assert_eq!(results[3].as_ref().expect("line 6").text, "awful");
}

#[test]
fn reader_reports_a_failing_source_once() {
    struct Failing;
    impl std::io::Read for Failing {
        fn read(&mut self, _: &mut [u8]) -> std::io::Result<usize> {
            Err(std::io::Error::other("disk on fire"))
        }
    }

    let results: Vec<_> = PostReader::new(std::io::BufReader::new(Failing)).collect();
    assert_eq!(results.len(), 1);
    assert!(matches!(results[0], Err(PostError::Io { line: 1, .. })));
}

#[test]
fn read_posts_fails_on_a_missing_file() {
    let missing = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/data/sentiment/no-such-file.txt"
    );
    assert!(posts::read_posts(missing).is_err());
}

#[test]
fn malformed_lexicon_lines_are_errors() {
    use agentlane::demo::sentiment::vader::LexiconError;

    assert!(matches!(
        Lexicon::parse("good"),
        Err(LexiconError::MissingField { line: 1 })
    ));
    assert!(matches!(
        Lexicon::parse("ok\t1\n\nbad\tx"),
        Err(LexiconError::BadValence { line: 3, .. })
    ));
    assert!(matches!(
        Lexicon::parse("bad\tNaN"),
        Err(LexiconError::NonFiniteValence { line: 1, .. })
    ));
    assert!(Lexicon::parse("").expect("empty lexicon").is_empty());
    assert!(matches!(
        Lexicon::load("/no/such/lexicon"),
        Err(LexiconError::Io { .. })
    ));
}

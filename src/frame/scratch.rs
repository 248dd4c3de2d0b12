//! The encoder's segment allocator: one zeroed word buffer, lent to Cap'n Proto again and
//! again.
//!
//! `capnp::message::Builder` asks its allocator for segments and hands them back (with the
//! number of words it may have written) when it is dropped or turned back into its
//! allocator. [`Scratch`] lends its one buffer as the first segment and re-zeroes only the
//! words used when it comes back, so a long-lived encoder touches the heap only when the
//! buffer is first made. Segments beyond the first (only a frame over the maximum size
//! needs one) come from the heap and are freed when handed back.

use std::fmt;
use std::ptr::NonNull;

use capnp::message::Allocator;

/// A Cap'n Proto allocator over one reused, lazily made buffer.
pub(crate) struct Scratch {
    /// The buffer lent as the first segment; zero wherever it is not lent. Empty until the
    /// first segment is asked for.
    words: Vec<u64>,
    /// The size of `words` once made, in words; at most `u32::MAX`.
    span_words: usize,
    /// Whether `words` is lent to a builder now.
    lent: bool,
    /// Heap segments lent beyond the first, freed when handed back.
    overflow: Vec<Vec<u64>>,
}

impl Scratch {
    /// An allocator whose buffer will hold `span_words` words (capped at `u32::MAX`).
    /// Allocates nothing yet.
    pub(crate) fn new(span_words: usize) -> Scratch {
        let span_words = span_words.min(u32::MAX as usize);
        Scratch {
            words: Vec::new(),
            span_words,
            lent: false,
            overflow: Vec::new(),
        }
    }
}

// SAFETY: every segment handed out is zeroed (fresh `vec![0; n]`, or re-zeroed over the
// used words when handed back), lives in a `Vec` kept here until handed back (moving the
// `Vec` does not move its heap buffer), never overlaps another (the one buffer is lent at
// most once at a time; overflow segments are separate allocations), and is `u64`-aligned.
unsafe impl Allocator for Scratch {
    fn allocate_segment(&mut self, minimum_size: u32) -> (NonNull<u8>, u32) {
        let minimum = minimum_size as usize;

        // Lend the reused buffer when it is free and big enough.
        if !self.lent && minimum <= self.span_words && self.span_words > 0 {
            if self.words.is_empty() {
                self.words = vec![0; self.span_words];
            }
            self.lent = true;
            return lend(&mut self.words);
        }

        // Otherwise a one-off heap segment.
        let mut segment = vec![0; minimum.max(1)];
        let lent = lend(&mut segment);
        self.overflow.push(segment);
        lent
    }

    unsafe fn deallocate_segment(&mut self, ptr: NonNull<u8>, _word_size: u32, words_used: u32) {
        // The reused buffer: zero what may have been written, for the next loan.
        if self.lent && std::ptr::eq(ptr.as_ptr().cast::<u64>(), self.words.as_ptr()) {
            let used = self.words.len().min(words_used as usize);
            self.words[..used].fill(0);
            self.lent = false;
            return;
        }

        // An overflow segment: free it.
        self.overflow
            .retain(|segment| !std::ptr::eq(segment.as_ptr(), ptr.as_ptr().cast()));
    }
}

/// The start and word length of a non-empty segment buffer.
fn lend(segment: &mut [u64]) -> (NonNull<u8>, u32) {
    let len = u32::try_from(segment.len()).unwrap_or(u32::MAX);
    (NonNull::from(segment).cast::<u8>(), len)
}

impl fmt::Debug for Scratch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Scratch")
            .field("span_words", &self.span_words)
            .field("made", &!self.words.is_empty())
            .field("lent", &self.lent)
            .field("overflow", &self.overflow.len())
            .finish()
    }
}

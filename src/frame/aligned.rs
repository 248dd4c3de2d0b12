//! Word-aligned byte buffers: frames live in `u64` words and are read as bytes.
//!
//! Cap'n Proto reads a message in place only when the message starts on an 8-byte boundary
//! (the `capnp` crate is built without its `unaligned` feature). Storing frames as `u64`
//! words gives that alignment for free; this module holds the two casts from words to bytes,
//! the only `unsafe` of the frame layer outside the encoder's allocator.

use std::sync::Arc;

/// Bytes per Cap'n Proto word.
pub(crate) const WORD: usize = 8;

/// The number of words that hold `len` bytes.
pub(crate) fn words_for(len: usize) -> usize {
    len.div_ceil(WORD)
}

/// Views words as their bytes in memory.
pub(crate) fn as_bytes(words: &[u64]) -> &[u8] {
    // SAFETY: `u8` has alignment 1 and every bit pattern is valid; the length is the exact
    // byte size of `words`, and the result borrows `words` for its whole life.
    unsafe { std::slice::from_raw_parts(words.as_ptr().cast::<u8>(), std::mem::size_of_val(words)) }
}

/// Views words as their bytes in memory, mutably.
pub(crate) fn as_bytes_mut(words: &mut [u64]) -> &mut [u8] {
    let len = std::mem::size_of_val(words);

    // SAFETY: as in `as_bytes`; any byte written leaves a valid `u64`, and the result holds
    // the only borrow of `words` while it lives.
    unsafe { std::slice::from_raw_parts_mut(words.as_mut_ptr().cast::<u8>(), len) }
}

/// Copies `bytes` into a fresh shared word buffer whose bytes in memory start with `bytes`;
/// the tail of the last word is zero. One allocation.
pub(crate) fn copy_to_shared(bytes: &[u8]) -> Arc<[u64]> {
    // NB: `Chunks` reports an exact length, so collecting into `Arc<[u64]>` allocates once.
    bytes
        .chunks(WORD)
        .map(|chunk| {
            let mut word = [0u8; WORD];
            word[..chunk.len()].copy_from_slice(chunk);
            u64::from_ne_bytes(word)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn copy_keeps_bytes_and_aligns() {
        let bytes: Vec<u8> = (0..13).collect();

        let words = copy_to_shared(&bytes);

        assert_eq!(words.len(), 2);
        assert_eq!(&as_bytes(&words)[..13], &bytes[..]);
        assert_eq!(&as_bytes(&words)[13..], &[0, 0, 0]);
        assert_eq!(as_bytes(&words).as_ptr() as usize % WORD, 0);
    }

    #[test]
    fn words_for_rounds_up() {
        assert_eq!(words_for(0), 0);
        assert_eq!(words_for(1), 1);
        assert_eq!(words_for(8), 1);
        assert_eq!(words_for(9), 2);
    }
}

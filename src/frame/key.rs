//! The stable partitioning hash of frame keys.

/// FNV-1a 64-bit offset basis.
pub const FNV_OFFSET_BASIS: u64 = 0xcbf2_9ce4_8422_2325;

/// FNV-1a 64-bit prime.
pub const FNV_PRIME: u64 = 0x0000_0100_0000_01b3;

/// Hashes a frame key with 64-bit FNV-1a.
///
/// This is the stable partitioning hash: a frame with key `k` goes to partition
/// `key_hash(k) % partitions`. It is fixed by `docs/format.md` and will not change between
/// versions, processes or machines, so logs and NATS mirrors written by one build are
/// partitioned the same way by the next. It is not a defence against adversarial keys.
///
/// # Examples
///
/// ```
/// use agentlane::frame::key_hash;
///
/// assert_eq!(key_hash(b""), 0xcbf2_9ce4_8422_2325);
/// assert_eq!(key_hash(b"a"), 0xaf63_dc4c_8601_ec8c);
/// assert_eq!(key_hash(b"foobar"), 0x8594_4171_f739_67e8);
/// ```
#[inline]
pub fn key_hash(key: &[u8]) -> u64 {
    key.iter().fold(FNV_OFFSET_BASIS, |hash, &byte| {
        (hash ^ u64::from(byte)).wrapping_mul(FNV_PRIME)
    })
}

//! The sparse offset index and the time index of one segment, kept in memory.
//!
//! Both have an entry for every `interval`-th record of the segment (the 0th included), so
//! a lookup lands at most `interval - 1` records before its target and reads forward. The
//! time index stores, per entry, the largest timestamp of the records *before* it in the
//! segment: that value never decreases along the entries, so a binary search finds where
//! the first record at or after a time can be, even when timestamps do not grow.

/// Where a read starts: a record's offset and its byte position in the segment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Seek {
    pub(crate) offset: u64,
    pub(crate) position: u64,
}

/// The sparse offset index of a segment: (offset, byte position) every `interval` records.
#[derive(Debug, Clone, Default)]
pub(crate) struct OffsetIndex {
    entries: Vec<Seek>,
}

/// The time index of a segment: (largest earlier timestamp, where) for the same records.
#[derive(Debug, Clone, Default)]
pub(crate) struct TimeIndex {
    entries: Vec<(Option<u64>, Seek)>,
    /// The largest timestamp in the segment, `None` while it has no record.
    max_timestamp: Option<u64>,
    /// The smallest timestamp in the segment.
    min_timestamp: Option<u64>,
}

/// Both indexes of a segment, fed one record at a time.
#[derive(Debug, Clone)]
pub(crate) struct SegmentIndex {
    interval: u64,
    records: u64,
    pub(crate) offsets: OffsetIndex,
    pub(crate) times: TimeIndex,
}

impl SegmentIndex {
    /// Empty indexes with an entry every `interval` records.
    pub(crate) fn new(interval: u32) -> SegmentIndex {
        SegmentIndex {
            interval: u64::from(interval.max(1)),
            records: 0,
            offsets: OffsetIndex::default(),
            times: TimeIndex::default(),
        }
    }

    /// Takes note of the next record of the segment.
    pub(crate) fn observe(&mut self, offset: u64, timestamp_ns: u64, position: u64) {
        if self.records % self.interval == 0 {
            let seek = Seek { offset, position };
            self.offsets.entries.push(seek);
            self.times.entries.push((self.times.max_timestamp, seek));
        }
        self.records += 1;
        let max = self
            .times
            .max_timestamp
            .map_or(timestamp_ns, |m| m.max(timestamp_ns));
        let min = self
            .times
            .min_timestamp
            .map_or(timestamp_ns, |m| m.min(timestamp_ns));
        self.times.max_timestamp = Some(max);
        self.times.min_timestamp = Some(min);
    }
}

impl OffsetIndex {
    /// The last entry at or before `offset`, if any.
    pub(crate) fn lookup(&self, offset: u64) -> Option<Seek> {
        let after = self.entries.partition_point(|e| e.offset <= offset);
        after.checked_sub(1).map(|i| self.entries[i])
    }

    /// The number of entries.
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.entries.len()
    }
}

impl TimeIndex {
    /// Where to start reading to find the first record at or after `timestamp_ns`, or
    /// `None` when every record of the segment is earlier.
    pub(crate) fn lookup(&self, timestamp_ns: u64) -> Option<Seek> {
        if self.max_timestamp? < timestamp_ns {
            return None;
        }

        // The last entry with only earlier records before it.
        let after = self
            .entries
            .partition_point(|&(earlier_max, _)| earlier_max.map_or(true, |m| m < timestamp_ns));
        after.checked_sub(1).map(|i| self.entries[i].1)
    }

    /// The smallest and largest timestamps of the segment's records.
    pub(crate) fn range(&self) -> Option<(u64, u64)> {
        Some((self.min_timestamp?, self.max_timestamp?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn index_of(timestamps: &[u64], interval: u32) -> SegmentIndex {
        let mut index = SegmentIndex::new(interval);
        for (i, &ts) in timestamps.iter().enumerate() {
            index.observe(100 + i as u64, ts, 32 + 32 * i as u64);
        }
        index
    }

    #[test]
    fn offset_lookup_lands_on_the_entry_at_or_before() {
        let index = index_of(&[0; 10], 4);
        assert_eq!(index.offsets.len(), 3);
        assert_eq!(index.offsets.lookup(99), None);
        assert_eq!(index.offsets.lookup(100).map(|s| s.offset), Some(100));
        assert_eq!(index.offsets.lookup(107).map(|s| s.offset), Some(104));
        assert_eq!(index.offsets.lookup(108).map(|s| s.offset), Some(108));
    }

    #[test]
    fn time_lookup_never_starts_after_the_first_match() {
        let timestamps = [5, 1, 9, 3, 2, 20, 4, 4, 30, 1];
        let index = index_of(&timestamps, 3);
        for t in 0..=31 {
            let first = timestamps
                .iter()
                .position(|&ts| ts >= t)
                .map(|i| 100 + i as u64);
            match (index.times.lookup(t), first) {
                (Some(seek), Some(first)) => assert!(seek.offset <= first, "t = {t}"),
                (None, None) => {}
                (got, want) => panic!("t = {t}: {got:?} vs {want:?}"),
            }
        }
    }
}

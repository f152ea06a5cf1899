//! Message sizes counted in fixed buckets, for the inventory's attachment-volume view.

use serde::{Deserialize, Serialize};

/// The upper bounds (exclusive) of the buckets, in bytes; the last bucket is open.
const BOUNDS: [u64; 7] = [
    10 << 10,
    100 << 10,
    1 << 20,
    10 << 20,
    25 << 20,
    50 << 20,
    150 << 20,
];

/// The labels of the buckets, in order.
const LABELS: [&str; 8] = [
    "< 10 KiB",
    "10-100 KiB",
    "100 KiB-1 MiB",
    "1-10 MiB",
    "10-25 MiB",
    "25-50 MiB",
    "50-150 MiB",
    ">= 150 MiB",
];

/// How many messages, and how many bytes, fall in each size bucket (under 10 KiB, 10–100
/// KiB, … 50–150 MiB, 150 MiB and over): where a mailbox's volume is, and how much of it
/// is large attachments that destinations limit (Graph 150 MB, Gmail 25 MB per message
/// through the API's simple upload, 35 MB by resumable upload).
///
/// ```
/// use mailmigrate_core::campaign::SizeHistogram;
/// let mut h = SizeHistogram::default();
/// h.add(2_000);
/// h.add(30 << 20);
/// assert_eq!(h.buckets()[0].messages, 1);
/// assert_eq!(h.buckets()[5].label, "25-50 MiB");
/// assert_eq!(h.buckets()[5].bytes, 30 << 20);
/// assert_eq!(h.total_messages(), 2);
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SizeHistogram {
    messages: [u64; 8],
    bytes: [u64; 8],
}

/// One bucket of a [`SizeHistogram`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct SizeBucket {
    /// The bucket's range, for people (`"1-10 MiB"`).
    pub label: &'static str,
    /// Its upper bound in bytes (exclusive); `None` for the last, open bucket.
    pub below: Option<u64>,
    /// Messages in it.
    pub messages: u64,
    /// Their bytes.
    pub bytes: u64,
}

impl SizeHistogram {
    /// Counts one message of `size` bytes.
    pub fn add(&mut self, size: u64) {
        let i = BOUNDS
            .iter()
            .position(|&b| size < b)
            .unwrap_or(BOUNDS.len());
        self.messages[i] += 1;
        self.bytes[i] += size;
    }

    /// Adds every count of `other`.
    pub fn merge(&mut self, other: &SizeHistogram) {
        for i in 0..LABELS.len() {
            self.messages[i] += other.messages[i];
            self.bytes[i] += other.bytes[i];
        }
    }

    /// The buckets, smallest first.
    pub fn buckets(&self) -> Vec<SizeBucket> {
        (0..LABELS.len())
            .map(|i| SizeBucket {
                label: LABELS[i],
                below: BOUNDS.get(i).copied(),
                messages: self.messages[i],
                bytes: self.bytes[i],
            })
            .collect()
    }

    /// Messages counted.
    pub fn total_messages(&self) -> u64 {
        self.messages.iter().sum()
    }

    /// Bytes counted.
    pub fn total_bytes(&self) -> u64 {
        self.bytes.iter().sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bounds_are_exclusive() {
        let mut h = SizeHistogram::default();
        h.add(10 << 10);
        h.add((10 << 10) - 1);
        h.add(u64::MAX / 2);
        let b = h.buckets();
        assert_eq!((b[0].messages, b[1].messages, b[7].messages), (1, 1, 1));
        assert_eq!(b[7].below, None);
    }
}

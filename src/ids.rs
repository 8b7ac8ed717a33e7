//! Deterministic document ids for events that carry none of their own.
//!
//! CloudWatch Logs events have an id; lines of other producers (CloudFront, JSON lines, Apache,
//! text) do not. They get a short stable hash of where they sit in the stream: (stream ARN,
//! shard, sequence number, KPL sub-sequence number, line index). The same record replayed by
//! Lambda yields the same ids, so `create` answers 409 and nothing is indexed twice.
//!
//! The id is the first 128 bits of SHA-256 over the length-prefixed parts, in unpadded
//! base64url: 22 characters. 128 bits make a collision between two different lines of a
//! stream practically impossible (a birthday bound of ~2^64 lines).

use base64::Engine as _;
use sha2::{Digest, Sha256};

/// The hash state of one (sub-)record: every line of it only adds its index.
#[derive(Clone)]
pub struct RecordIds {
    state: Sha256,
}

impl RecordIds {
    pub fn new(stream_arn: &str, shard_id: &str, sequence_number: &str, sub: Option<u32>) -> Self {
        let mut state = Sha256::new();
        for part in [stream_arn, shard_id, sequence_number] {
            state.update((part.len() as u32).to_le_bytes());
            state.update(part.as_bytes());
        }
        match sub {
            Some(n) => {
                state.update([1]);
                state.update(n.to_le_bytes());
            }
            None => state.update([0]),
        }
        Self { state }
    }

    /// Appends the id of line `line` (22 characters, `[A-Za-z0-9_-]`) to `out`.
    pub fn push_line_id(&self, line: u32, out: &mut String) {
        let mut state = self.state.clone();
        state.update(line.to_le_bytes());
        let digest = state.finalize();
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode_string(&digest[..16], out);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(ids: &RecordIds, line: u32) -> String {
        let mut s = String::new();
        ids.push_line_id(line, &mut s);
        s
    }

    #[test]
    fn ids_are_stable_short_and_distinct() {
        let arn = "arn:aws:kinesis:eu-west-1:123456789012:stream/logs";
        let a = RecordIds::new(arn, "shardId-000000000000", "4959", None);
        assert_eq!(id(&a, 0), id(&a.clone(), 0));
        assert_eq!(id(&a, 0).len(), 22);
        assert!(id(&a, 0)
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'));
        let mut seen = std::collections::HashSet::new();
        for (shard, seq, sub) in [
            ("shardId-000000000000", "4959", None),
            ("shardId-000000000000", "4959", Some(0)),
            ("shardId-000000000000", "4959", Some(1)),
            ("shardId-000000000001", "4959", None),
            ("shardId-000000000000", "49591", None),
            // Length prefixes keep ("ab","c") and ("a","bc") apart.
            ("shardId-00000000000", "04959", None),
        ] {
            let r = RecordIds::new(arn, shard, seq, sub);
            for line in 0..3 {
                assert!(seen.insert(id(&r, line)), "{shard} {seq} {sub:?} {line}");
            }
        }
    }

    #[test]
    fn the_scheme_is_frozen() {
        // Changing the scheme would make replays of old records index duplicates.
        let r = RecordIds::new("arn", "shard", "1", Some(2));
        assert_eq!(id(&r, 3), FROZEN);
    }

    const FROZEN: &str = "c_IMt527QDHwg4FIufJhqg";
}

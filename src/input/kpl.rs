//! De-aggregation of KPL-aggregated Kinesis records.
//!
//! The Kinesis Producer Library (KPL), Fluentd's `kinesis_streams_aggregated` output and the
//! `aws-kinesis-agg` libraries pack many *user records* into one Kinesis record
//! (<https://github.com/awslabs/amazon-kinesis-producer/blob/master/aggregation-format.md>):
//!
//! ```text
//! F3 89 9A C2 | protobuf AggregatedRecord | MD5(protobuf bytes), 16 bytes
//!
//! message AggregatedRecord { repeated string partition_key_table = 1;
//!                            repeated string explicit_hash_key_table = 2;
//!                            repeated Record records = 3; }
//! message Record { required uint64 partition_key_index = 1;
//!                  optional uint64 explicit_hash_key_index = 2;
//!                  required bytes data = 3;
//!                  repeated Tag tags = 4; }
//! message Tag    { required string key = 1; optional string value = 2; }
//! ```
//!
//! [`deaggregate`] checks the magic and the digest, then reads the protobuf with a small
//! hand-written reader and returns the user records in order, borrowed from the input (the
//! index in the returned `Vec` is the user record's sub-sequence number). It allocates the
//! returned `Vec` plus a table of partition-key slices (and one of explicit-hash-key slices
//! when there are any) per aggregated record, and nothing per user record.
//!
//! Decisions, where the format leaves room:
//! - **Zero user records** with a valid digest is `Ok` with an empty `Vec`: the record is
//!   well-formed and says it carries nothing. (The encoders never write one.)
//! - **Keys must be valid UTF-8** (they are protobuf `string`s); every table entry is checked,
//!   used or not ([`KplError::InvalidUtf8`]). `data` is `bytes` and is returned untouched.
//! - **Unknown fields** of any valid wire type are skipped, in both messages. A known field
//!   with the wrong wire type, a group (wire types 3 and 4, unused by this format), wire types
//!   6 and 7, field number 0, a truncated or over-long (> 10 bytes, or > 64 bits) varint and a
//!   length past the end of the enclosing message are errors.
//! - **Required fields**: a `Record` without `partition_key_index` or `data` is an error, as
//!   it is for protobuf's own proto2 parser. A field that repeats takes its last value, as in
//!   protobuf. `tags` are skipped without being read (nothing downstream uses them).
//! - The tables and records may come in any order (encoders write tables first).
//!
//! What the caller should do with an error: see [`KplError::is_not_aggregated`].

use md5::{Digest, Md5};

/// The four bytes every KPL aggregated record starts with.
pub const MAGIC: [u8; 4] = [0xF3, 0x89, 0x9A, 0xC2];

/// Length of the MD5 trailer.
const DIGEST_LEN: usize = 16;

/// The shortest possible aggregated record: magic, an empty protobuf, the digest.
pub const MIN_LEN: usize = MAGIC.len() + DIGEST_LEN;

/// True when `data` starts with the magic bytes (cheap; says nothing about validity).
#[must_use]
pub fn is_aggregated(data: &[u8]) -> bool {
    data.starts_with(&MAGIC)
}

/// One user record of an aggregated record, borrowed from the input.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UserRecord<'a> {
    /// The partition key the producer gave this user record (not the Kinesis record's).
    pub partition_key: &'a str,
    /// The explicit hash key, when the producer gave one for this user record.
    pub explicit_hash_key: Option<&'a str>,
    /// The user record's payload, exactly as the producer wrote it.
    pub data: &'a [u8],
}

/// Why bytes are not a valid KPL aggregated record. Byte offsets count from the start of the
/// whole record (the first magic byte is byte 0), so they match a hex dump of the input.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KplError {
    /// The input does not start with [`MAGIC`].
    #[error("not a KPL aggregated record (does not start with F3 89 9A C2)")]
    NotAggregated,
    /// The magic is there but the input is too short to hold the digest.
    #[error("KPL aggregated record truncated: {len} bytes, the minimum is {MIN_LEN}")]
    Truncated { len: usize },
    /// The last 16 bytes are not the MD5 of the protobuf: the record was truncated or
    /// corrupted, or it is not an aggregated record at all.
    #[error(
        "KPL aggregated record has a bad MD5 digest (truncated, corrupted, or not aggregated)"
    )]
    BadDigest,
    /// The protobuf is not well-formed.
    #[error("KPL aggregated record: malformed protobuf at byte {offset}: {problem}")]
    Malformed {
        offset: usize,
        problem: Malformation,
    },
    /// A user record lacks a field the format requires.
    #[error("KPL aggregated record: user record {record} has no `{field}`")]
    MissingField { record: usize, field: &'static str },
    /// A user record points past the end of the partition key table.
    #[error("KPL aggregated record: user record {record} has partition key index {index}, but the table has {len} keys")]
    PartitionKeyIndexOutOfRange {
        record: usize,
        index: u64,
        len: usize,
    },
    /// A user record points past the end of the explicit hash key table.
    #[error("KPL aggregated record: user record {record} has explicit hash key index {index}, but the table has {len} keys")]
    ExplicitHashKeyIndexOutOfRange {
        record: usize,
        index: u64,
        len: usize,
    },
    /// A key table entry is not valid UTF-8.
    #[error("KPL aggregated record: {table} entry at byte {offset} is not valid UTF-8")]
    InvalidUtf8 { table: &'static str, offset: usize },
}

impl KplError {
    /// True when the input failed the checks that make bytes a KPL aggregated record at all
    /// (no magic, too short, digest mismatch). The KCL and `aws-kinesis-agg` hand such a
    /// record on unchanged, as an ordinary record, and so should a caller that detects formats
    /// by content: 4 bytes of magic alone are weak evidence.
    ///
    /// False for every other error: the digest vouches that these are the bytes the producer
    /// meant, so the producer wrote a broken aggregate. That is a poison record (dead letter),
    /// not text to ship. (The KCL would pass a protobuf that fails to parse through as an
    /// ordinary record too; with a matching MD5 that is all but certainly a broken aggregate.)
    #[must_use]
    pub fn is_not_aggregated(&self) -> bool {
        matches!(
            self,
            Self::NotAggregated | Self::Truncated { .. } | Self::BadDigest
        )
    }
}

/// What is wrong with a malformed protobuf.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Malformation {
    /// The input ends inside a varint.
    #[error("truncated varint")]
    TruncatedVarint,
    /// A varint has more than 10 bytes.
    #[error("varint longer than 10 bytes")]
    VarintTooLong,
    /// A 10-byte varint holds more than 64 bits.
    #[error("varint overflows 64 bits")]
    VarintOverflow,
    /// A length-delimited or fixed-width field runs past the end of its message.
    #[error("field length past the end of the message")]
    LengthPastEnd,
    /// Field number 0 or above 2^29 - 1.
    #[error("invalid field number {0}")]
    InvalidFieldNumber(u64),
    /// Wire type 3 or 4 (groups), which this format never uses.
    #[error("group (wire type {0}) not supported")]
    Group(u8),
    /// Wire type 6 or 7.
    #[error("invalid wire type {0}")]
    InvalidWireType(u8),
    /// A field of the format arrived with a wire type it cannot have.
    #[error("field {field} of {message} has wire type {wire_type}")]
    WrongWireType {
        message: &'static str,
        field: u32,
        wire_type: u8,
    },
}

/// The user records in order (their index is the sub-sequence number), after checking the
/// MD5 trailer. See the module documentation for what is accepted.
///
/// # Errors
/// A [`KplError`] naming the first problem found; nothing is returned for a record that
/// fails anywhere, so a caller never ships half of a broken aggregate.
pub fn deaggregate(data: &[u8]) -> Result<Vec<UserRecord<'_>>, KplError> {
    if !is_aggregated(data) {
        return Err(KplError::NotAggregated);
    }
    let len = data.len();
    if len < MIN_LEN {
        return Err(KplError::Truncated { len });
    }
    let truncated = || KplError::Truncated { len };
    let (head, digest) = data
        .split_at_checked(len - DIGEST_LEN)
        .ok_or_else(truncated)?;
    let body = head.get(MAGIC.len()..).ok_or_else(truncated)?;
    if Md5::digest(body).as_slice() != digest {
        return Err(KplError::BadDigest);
    }
    parse(body, MAGIC.len())
}

const VARINT: u8 = 0;
const FIXED64: u8 = 1;
const LEN: u8 = 2;
const FIXED32: u8 = 5;

/// Reads the `AggregatedRecord` in `body`, which starts at byte `base` of the input.
fn parse(body: &[u8], base: usize) -> Result<Vec<UserRecord<'_>>, KplError> {
    const MESSAGE: &str = "AggregatedRecord";
    // Pass 1: the key tables (records may precede them), the record count, and well-formedness
    // of the top level.
    let mut partition_keys: Vec<&str> = Vec::new();
    let mut explicit_hash_keys: Vec<&str> = Vec::new();
    let mut count = 0usize;
    let mut reader = Reader::new(body, base);
    while let Some((field, wire_type, at)) = reader.tag()? {
        match (field, wire_type) {
            (1, LEN) => partition_keys.push(reader.string("partition key table")?),
            (2, LEN) => explicit_hash_keys.push(reader.string("explicit hash key table")?),
            (3, LEN) => {
                reader.bytes()?;
                count += 1;
            }
            (1..=3, _) => return Err(wrong_wire_type(MESSAGE, field, wire_type, at)),
            _ => reader.skip(wire_type, at)?,
        }
    }

    // Pass 2: the records, resolved against the tables.
    let mut records = Vec::with_capacity(count);
    let mut reader = Reader::new(body, base);
    while let Some((field, wire_type, at)) = reader.tag()? {
        if (field, wire_type) == (3, LEN) {
            let record = reader.bytes()?;
            let record_base = reader.offset() - record.len();
            records.push(parse_record(
                record,
                record_base,
                records.len(),
                &partition_keys,
                &explicit_hash_keys,
            )?);
        } else {
            // Known fine from pass 1; this only moves past it.
            reader.skip(wire_type, at)?;
        }
    }
    Ok(records)
}

/// Reads one `Record` (the `index`-th), which starts at byte `base` of the input.
fn parse_record<'a>(
    buf: &'a [u8],
    base: usize,
    index: usize,
    partition_keys: &[&'a str],
    explicit_hash_keys: &[&'a str],
) -> Result<UserRecord<'a>, KplError> {
    const MESSAGE: &str = "Record";
    let mut partition_key_index = None;
    let mut explicit_hash_key_index = None;
    let mut data = None;
    let mut reader = Reader::new(buf, base);
    while let Some((field, wire_type, at)) = reader.tag()? {
        match (field, wire_type) {
            (1, VARINT) => partition_key_index = Some(reader.varint()?),
            (2, VARINT) => explicit_hash_key_index = Some(reader.varint()?),
            (3, LEN) => data = Some(reader.bytes()?),
            (4, LEN) => {
                reader.bytes()?; // tags: not used
            }
            (1..=4, _) => return Err(wrong_wire_type(MESSAGE, field, wire_type, at)),
            _ => reader.skip(wire_type, at)?,
        }
    }

    let pk_index = partition_key_index.ok_or(KplError::MissingField {
        record: index,
        field: "partition_key_index",
    })?;
    let partition_key =
        lookup(partition_keys, pk_index).ok_or(KplError::PartitionKeyIndexOutOfRange {
            record: index,
            index: pk_index,
            len: partition_keys.len(),
        })?;
    let explicit_hash_key = match explicit_hash_key_index {
        None => None,
        Some(ehk_index) => Some(lookup(explicit_hash_keys, ehk_index).ok_or(
            KplError::ExplicitHashKeyIndexOutOfRange {
                record: index,
                index: ehk_index,
                len: explicit_hash_keys.len(),
            },
        )?),
    };
    let data = data.ok_or(KplError::MissingField {
        record: index,
        field: "data",
    })?;
    Ok(UserRecord {
        partition_key,
        explicit_hash_key,
        data,
    })
}

fn lookup<'a>(table: &[&'a str], index: u64) -> Option<&'a str> {
    table.get(usize::try_from(index).ok()?).copied()
}

fn wrong_wire_type(message: &'static str, field: u32, wire_type: u8, at: usize) -> KplError {
    KplError::Malformed {
        offset: at,
        problem: Malformation::WrongWireType {
            message,
            field,
            wire_type,
        },
    }
}

/// A cursor over one protobuf message; `base` is the message's offset in the whole input, for
/// error offsets.
struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
    base: usize,
}

impl<'a> Reader<'a> {
    fn new(buf: &'a [u8], base: usize) -> Self {
        Self { buf, pos: 0, base }
    }

    /// The current position as an offset in the whole input.
    fn offset(&self) -> usize {
        self.base + self.pos
    }

    fn malformed(&self, pos: usize, problem: Malformation) -> KplError {
        KplError::Malformed {
            offset: self.base + pos,
            problem,
        }
    }

    fn varint(&mut self) -> Result<u64, KplError> {
        let start = self.pos;
        let mut value = 0u64;
        for i in 0..10 {
            let Some(&byte) = self.buf.get(self.pos) else {
                return Err(self.malformed(start, Malformation::TruncatedVarint));
            };
            self.pos += 1;
            if i == 9 {
                // The 10th byte holds bit 63 only, and must be the last.
                if byte & 0x80 != 0 {
                    return Err(self.malformed(start, Malformation::VarintTooLong));
                }
                if byte > 1 {
                    return Err(self.malformed(start, Malformation::VarintOverflow));
                }
            }
            value |= u64::from(byte & 0x7F) << (7 * i);
            if byte & 0x80 == 0 {
                return Ok(value);
            }
        }
        // Unreachable: the 10th byte either returns or errors above.
        Err(self.malformed(start, Malformation::VarintTooLong))
    }

    /// The next field's (number, wire type, offset of its tag), or `None` at the end.
    fn tag(&mut self) -> Result<Option<(u32, u8, usize)>, KplError> {
        if self.pos >= self.buf.len() {
            return Ok(None);
        }
        let start = self.pos;
        let key = self.varint()?;
        let field = key >> 3;
        // The low three bits, so the cast cannot truncate.
        let wire_type = (key & 7) as u8;
        match u32::try_from(field) {
            Ok(field @ 1..=0x1FFF_FFFF) => Ok(Some((field, wire_type, self.base + start))),
            _ => Err(self.malformed(start, Malformation::InvalidFieldNumber(field))),
        }
    }

    /// `n` bytes; `start` is where the field began, for the error.
    fn take(&mut self, n: usize, start: usize) -> Result<&'a [u8], KplError> {
        let end = self
            .pos
            .checked_add(n)
            .filter(|&end| end <= self.buf.len())
            .ok_or_else(|| self.malformed(start, Malformation::LengthPastEnd))?;
        let bytes = self.buf.get(self.pos..end).unwrap_or_default();
        self.pos = end;
        Ok(bytes)
    }

    /// The payload of a length-delimited field.
    fn bytes(&mut self) -> Result<&'a [u8], KplError> {
        let start = self.pos;
        let len = self.varint()?;
        let len = usize::try_from(len).unwrap_or(usize::MAX);
        self.take(len, start)
    }

    /// A length-delimited field that must be UTF-8.
    fn string(&mut self, table: &'static str) -> Result<&'a str, KplError> {
        let bytes = self.bytes()?;
        let offset = self.offset() - bytes.len();
        std::str::from_utf8(bytes).map_err(|_| KplError::InvalidUtf8 { table, offset })
    }

    /// Moves past a field's value; `at` is the field's tag offset in the whole input.
    fn skip(&mut self, wire_type: u8, at: usize) -> Result<(), KplError> {
        let start = self.pos;
        match wire_type {
            VARINT => self.varint().map(drop),
            FIXED64 => self.take(8, start).map(drop),
            LEN => self.bytes().map(drop),
            FIXED32 => self.take(4, start).map(drop),
            3 | 4 => Err(KplError::Malformed {
                offset: at,
                problem: Malformation::Group(wire_type),
            }),
            _ => Err(KplError::Malformed {
                offset: at,
                problem: Malformation::InvalidWireType(wire_type),
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Where the fixtures are, relative to this file (src/input/kpl.rs). They are written by
    /// scripts/make-kpl-fixtures.py with the official `aws-kinesis-agg` aggregator.
    macro_rules! fixture {
        ($name:literal) => {
            (
                $name,
                include_bytes!(concat!("../../tests/fixtures/kpl/", $name, ".bin")) as &[u8],
                include_str!(concat!("../../tests/fixtures/kpl/", $name, ".json")),
            )
        };
    }

    const FIXTURES: [(&str, &[u8], &str); 7] = [
        fixture!("plain-text-3"),
        fixture!("explicit-hash-key"),
        fixture!("cloudwatch-gzip"),
        fixture!("many-keys-500"),
        fixture!("single-record"),
        fixture!("binary-data"),
        fixture!("edge-cases"),
    ];

    fn fixture(name: &str) -> &'static [u8] {
        FIXTURES
            .iter()
            .find(|(n, _, _)| *n == name)
            .map(|(_, bin, _)| *bin)
            .expect("known fixture")
    }

    // ---- a minimal encoder, to build records by hand ----

    fn put_varint(out: &mut Vec<u8>, mut value: u64) {
        while value >= 0x80 {
            out.push((value as u8) | 0x80);
            value >>= 7;
        }
        out.push(value as u8);
    }

    fn put_tag(out: &mut Vec<u8>, field: u64, wire_type: u8) {
        put_varint(out, (field << 3) | u64::from(wire_type));
    }

    fn put_len(out: &mut Vec<u8>, field: u64, bytes: &[u8]) {
        put_tag(out, field, LEN);
        put_varint(out, bytes.len() as u64);
        out.extend_from_slice(bytes);
    }

    fn put_uint(out: &mut Vec<u8>, field: u64, value: u64) {
        put_tag(out, field, VARINT);
        put_varint(out, value);
    }

    fn record(pk_index: u64, ehk_index: Option<u64>, data: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        put_uint(&mut out, 1, pk_index);
        if let Some(i) = ehk_index {
            put_uint(&mut out, 2, i);
        }
        put_len(&mut out, 3, data);
        out
    }

    /// magic + body + MD5(body): a record whose digest is right whatever the body holds.
    fn seal(body: &[u8]) -> Vec<u8> {
        let mut out = MAGIC.to_vec();
        out.extend_from_slice(body);
        out.extend_from_slice(&Md5::digest(body));
        out
    }

    fn body_of(sealed: &[u8]) -> &[u8] {
        &sealed[MAGIC.len()..sealed.len() - DIGEST_LEN]
    }

    // ---- a minimal reader for the fixture manifests (no serde in this module) ----

    /// (partition key, explicit hash key, data) of every entry of `"records"` in a manifest
    /// written by make-kpl-fixtures.py (json.dumps with indent=2: one field per line).
    fn manifest(json: &str) -> Vec<(String, Option<String>, Vec<u8>)> {
        let records = &json[json.find("\"records\"").expect("records")..];
        let mut out = Vec::new();
        let mut current: (Option<String>, Option<Option<String>>) = (None, None);
        for line in records.lines().map(str::trim) {
            let value = |key: &str| -> Option<Option<String>> {
                let rest = line.strip_prefix(&format!("\"{key}\": "))?;
                let rest = rest.strip_suffix(',').unwrap_or(rest);
                if rest == "null" {
                    return Some(None);
                }
                let s = rest.strip_prefix('"')?.strip_suffix('"')?;
                assert!(!s.contains('\\'), "escapes not supported: {s}");
                Some(Some(s.to_owned()))
            };
            if let Some(pk) = value("partition_key") {
                current.0 = pk;
            } else if let Some(ehk) = value("explicit_hash_key") {
                current.1 = Some(ehk);
            } else if let Some(data) = value("data_base64") {
                let pk = current.0.take().expect("partition_key before data");
                let ehk = current.1.take().expect("explicit_hash_key before data");
                out.push((pk, ehk, base64(&data.expect("data"))));
            }
        }
        out
    }

    fn base64(text: &str) -> Vec<u8> {
        let sextet = |c: u8| match c {
            b'A'..=b'Z' => u32::from(c - b'A'),
            b'a'..=b'z' => u32::from(c - b'a') + 26,
            b'0'..=b'9' => u32::from(c - b'0') + 52,
            b'+' => 62,
            b'/' => 63,
            _ => panic!("bad base64 {c}"),
        };
        let mut out = Vec::new();
        for chunk in text.as_bytes().chunks(4) {
            let n = chunk.iter().take_while(|&&c| c != b'=').count();
            let mut acc = 0u32;
            for (i, &c) in chunk[..n].iter().enumerate() {
                acc |= sextet(c) << (18 - 6 * i);
            }
            out.extend_from_slice(&acc.to_be_bytes()[1..n]);
        }
        out
    }

    // ---- fixtures ----

    #[test]
    fn every_fixture_deaggregates_to_its_manifest() {
        for (name, bin, json) in FIXTURES {
            assert!(is_aggregated(bin), "{name}");
            let got = deaggregate(bin).unwrap_or_else(|e| panic!("{name}: {e}"));
            let expected = manifest(json);
            assert!(!expected.is_empty(), "{name}: empty manifest");
            assert_eq!(got.len(), expected.len(), "{name}");
            for (i, (user, (pk, ehk, data))) in got.iter().zip(&expected).enumerate() {
                assert_eq!(user.partition_key, pk, "{name}[{i}]");
                assert_eq!(user.explicit_hash_key, ehk.as_deref(), "{name}[{i}]");
                assert_eq!(user.data, &data[..], "{name}[{i}]");
                // Borrowed from the input, not copied.
                let range = bin.as_ptr_range();
                assert!(range.contains(&user.data.as_ptr()) || user.data.is_empty());
                assert!(range.contains(&user.partition_key.as_ptr()));
            }
        }
    }

    #[test]
    fn fixtures_hold_what_the_generator_put_in() {
        // Independent of the manifest reader: a few values spelled out.
        let plain = deaggregate(fixture("plain-text-3")).unwrap();
        assert_eq!(
            plain,
            vec![
                UserRecord {
                    partition_key: "web-1",
                    explicit_hash_key: None,
                    data: b"GET /index.html 200 1043 0.012\n",
                },
                UserRecord {
                    partition_key: "web-2",
                    explicit_hash_key: None,
                    data: br#"{"level":"info","msg":"user logged in","user":"u-42"}"#,
                },
                UserRecord {
                    partition_key: "web-1",
                    explicit_hash_key: None,
                    data: b"2026-11-22T10:00:01Z WARN disk usage at 91%",
                },
            ]
        );

        let ehk = deaggregate(fixture("explicit-hash-key")).unwrap();
        let keys: Vec<_> = ehk
            .iter()
            .map(|r| (r.partition_key, r.explicit_hash_key))
            .collect();
        let mid = "170141183460469231731687303715884105728";
        let max = "340282366920938463463374607431768211455";
        assert_eq!(
            keys,
            [
                ("orders", Some(mid)),
                ("orders", None),
                ("payments", Some(max)),
                ("orders", Some(mid)),
            ]
        );

        let single = deaggregate(fixture("single-record")).unwrap();
        assert_eq!(single.len(), 1);
        assert_eq!(single[0].data, b"a single user record, aggregated anyway");

        let binary = deaggregate(fixture("binary-data")).unwrap();
        let mut expected: Vec<u8> = (0..=255).collect();
        expected.extend_from_slice(b"\xff\xfe\xc3\x28");
        expected.extend_from_slice(&MAGIC);
        assert_eq!(binary.len(), 1);
        assert_eq!(binary[0].data, &expected[..]);

        let cloudwatch = deaggregate(fixture("cloudwatch-gzip")).unwrap();
        assert_eq!(cloudwatch.len(), 2);
        assert_eq!(cloudwatch[0].partition_key, "/aws/lambda/checkout-api");
        assert_eq!(cloudwatch[1].partition_key, "/aws/apigateway/access-logs");
        assert!(cloudwatch.iter().all(|r| r.data.starts_with(&[0x1F, 0x8B])));

        let many = deaggregate(fixture("many-keys-500")).unwrap();
        assert_eq!(many.len(), 500);
        let distinct: std::collections::HashSet<_> = many.iter().map(|r| r.partition_key).collect();
        assert_eq!(distinct.len(), 300);
        assert_eq!(many[3].partition_key, "ключ-3-日本-🚀");
        assert_eq!(many[7].partition_key.len(), 256);
        assert_eq!(
            many[499].data,
            b"event 499 from host-199.example.interna: seq=8823"
        );

        let edge = deaggregate(fixture("edge-cases")).unwrap();
        assert_eq!(edge[0].data, b"");
        assert_eq!(edge[1].partition_key, "€");
        assert_eq!(edge[2].data, &[b'x'; 300][..]);
    }

    // ---- typed errors ----

    #[test]
    fn non_aggregated_input_is_not_aggregated() {
        for input in [
            &b""[..],
            b"\xF3\x89\x9A",
            b"{\"messageType\":\"DATA_MESSAGE\"}",
            b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\xff",
            b"\xC2\x9A\x89\xF3 reversed magic",
        ] {
            assert!(!is_aggregated(input));
            assert_eq!(deaggregate(input), Err(KplError::NotAggregated));
        }
    }

    #[test]
    fn too_short_for_the_digest_is_truncated() {
        let full = fixture("single-record");
        for len in MAGIC.len()..MIN_LEN {
            let err = deaggregate(&full[..len]).unwrap_err();
            assert_eq!(err, KplError::Truncated { len });
            assert!(err.is_not_aggregated());
        }
    }

    #[test]
    fn corrupted_digest_truncation_and_flipped_bytes_are_bad_digests() {
        let full = fixture("plain-text-3");
        // Flipped digest byte.
        let mut bad = full.to_vec();
        *bad.last_mut().unwrap() ^= 0x01;
        assert_eq!(deaggregate(&bad), Err(KplError::BadDigest));
        // Truncated anywhere past the minimum.
        for len in MIN_LEN..full.len() {
            assert_eq!(deaggregate(&full[..len]), Err(KplError::BadDigest), "{len}");
        }
        // Any flipped byte inside the protobuf.
        for i in MAGIC.len()..full.len() - DIGEST_LEN {
            let mut bad = full.to_vec();
            bad[i] ^= 0x40;
            let err = deaggregate(&bad).unwrap_err();
            assert_eq!(err, KplError::BadDigest, "{i}");
            assert!(err.is_not_aggregated());
        }
        // Extra bytes appended (e.g. two records concatenated).
        let mut longer = full.to_vec();
        longer.extend_from_slice(full);
        assert_eq!(deaggregate(&longer), Err(KplError::BadDigest));
    }

    #[test]
    fn flipped_byte_behind_a_valid_digest_is_a_typed_error() {
        // The same flips, re-sealed so that the protobuf reader sees them.
        let body = body_of(fixture("plain-text-3"));
        let mut errors = 0;
        for i in 0..body.len() {
            for mask in [0x01, 0x80, 0xFF] {
                let mut bad = body.to_vec();
                bad[i] ^= mask;
                match deaggregate(&seal(&bad)) {
                    Ok(records) => assert!(records.len() <= 3),
                    Err(e) => {
                        assert!(!e.is_not_aggregated(), "{e}");
                        assert!(!e.to_string().is_empty());
                        errors += 1;
                    }
                }
            }
        }
        assert!(errors > 0);
        // One spelled out: the first table entry's length now runs past the end.
        let mut bad = body[..20].to_vec();
        assert_eq!(bad[0], 0x0A); // field 1, wire type 2
        bad[1] = 0x7F;
        assert_eq!(
            deaggregate(&seal(&bad)),
            Err(KplError::Malformed {
                offset: 5,
                problem: Malformation::LengthPastEnd
            })
        );
    }

    #[test]
    fn out_of_range_indexes() {
        let mut body = Vec::new();
        put_len(&mut body, 1, b"pk0");
        put_len(&mut body, 1, b"pk1");
        put_len(&mut body, 3, &record(1, None, b"ok"));
        put_len(&mut body, 3, &record(2, None, b"bad"));
        assert_eq!(
            deaggregate(&seal(&body)),
            Err(KplError::PartitionKeyIndexOutOfRange {
                record: 1,
                index: 2,
                len: 2
            })
        );

        let mut body = Vec::new();
        put_len(&mut body, 1, b"pk0");
        put_len(&mut body, 3, &record(0, Some(u64::MAX), b"bad"));
        assert_eq!(
            deaggregate(&seal(&body)),
            Err(KplError::ExplicitHashKeyIndexOutOfRange {
                record: 0,
                index: u64::MAX,
                len: 0
            })
        );

        // An index into an empty table (aws-kinesis-agg's deaggregator ignores this one).
        let mut body = Vec::new();
        put_len(&mut body, 3, &record(0, None, b"no table"));
        assert_eq!(
            deaggregate(&seal(&body)),
            Err(KplError::PartitionKeyIndexOutOfRange {
                record: 0,
                index: 0,
                len: 0
            })
        );
    }

    #[test]
    fn missing_required_fields() {
        let mut no_pk = Vec::new();
        put_len(&mut no_pk, 3, b"data");
        let mut no_data = Vec::new();
        put_uint(&mut no_data, 1, 0);
        for (rec, field) in [(no_pk, "partition_key_index"), (no_data, "data")] {
            let mut body = Vec::new();
            put_len(&mut body, 1, b"pk");
            put_len(&mut body, 3, &record(0, None, b"fine"));
            put_len(&mut body, 3, &rec);
            assert_eq!(
                deaggregate(&seal(&body)),
                Err(KplError::MissingField { record: 1, field })
            );
        }
    }

    #[test]
    fn keys_must_be_utf8() {
        let mut body = Vec::new();
        put_len(&mut body, 1, b"fine");
        put_len(&mut body, 1, b"caf\xE9"); // Latin-1, not UTF-8
        put_len(&mut body, 3, &record(0, None, b"data"));
        assert_eq!(
            deaggregate(&seal(&body)),
            Err(KplError::InvalidUtf8 {
                table: "partition key table",
                offset: 4 + 6 + 2
            })
        );

        let mut body = Vec::new();
        put_len(&mut body, 1, b"pk");
        put_len(&mut body, 2, b"\xFF");
        assert!(matches!(
            deaggregate(&seal(&body)),
            Err(KplError::InvalidUtf8 {
                table: "explicit hash key table",
                ..
            })
        ));
    }

    #[test]
    fn malformed_protobuf() {
        use Malformation::*;
        let cases: Vec<(&str, Vec<u8>, usize, Malformation)> = vec![
            ("truncated tag varint", vec![0x80], 4, TruncatedVarint),
            (
                "truncated length varint",
                vec![0x0A, 0x80],
                5,
                TruncatedVarint,
            ),
            (
                "length past the end",
                vec![0x0A, 0x05, b'a'],
                5,
                LengthPastEnd,
            ),
            (
                "huge length",
                vec![
                    0x0A, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x01,
                ],
                5,
                LengthPastEnd,
            ),
            (
                "11-byte varint",
                {
                    let mut v = vec![0x78]; // field 15, varint
                    v.extend([0x80; 10]);
                    v.push(0x00);
                    v
                },
                5,
                VarintTooLong,
            ),
            (
                "varint over 64 bits",
                {
                    let mut v = vec![0x78];
                    v.extend([0xFF; 9]);
                    v.push(0x02);
                    v
                },
                5,
                VarintOverflow,
            ),
            ("field number 0", vec![0x02, 0x00], 4, InvalidFieldNumber(0)),
            ("start group", vec![0x7B], 4, Group(3)),
            ("end group", vec![0x7C], 4, Group(4)),
            ("wire type 6", vec![0x7E], 4, InvalidWireType(6)),
            ("wire type 7", vec![0x7F], 4, InvalidWireType(7)),
            (
                "fixed64 past the end",
                vec![0x79, 1, 2, 3],
                5,
                LengthPastEnd,
            ),
            (
                "fixed32 past the end",
                vec![0x7D, 1, 2, 3],
                5,
                LengthPastEnd,
            ),
            (
                "table entry as varint",
                vec![0x08, 0x01],
                4,
                WrongWireType {
                    message: "AggregatedRecord",
                    field: 1,
                    wire_type: 0,
                },
            ),
        ];
        for (what, body, offset, problem) in cases {
            assert_eq!(
                deaggregate(&seal(&body)),
                Err(KplError::Malformed { offset, problem }),
                "{what}"
            );
        }

        // Inside a Record: offsets point into the nested message.
        let mut body = Vec::new();
        put_len(&mut body, 1, b"pk"); // bytes 4..8
        put_len(&mut body, 3, &[0x08, 0x00, 0x18, 0x01]); // record at 10: data as varint
        assert_eq!(
            deaggregate(&seal(&body)),
            Err(KplError::Malformed {
                offset: 12,
                problem: WrongWireType {
                    message: "Record",
                    field: 3,
                    wire_type: 0
                }
            })
        );
        let mut body = Vec::new();
        put_len(&mut body, 1, b"pk");
        put_len(&mut body, 3, &[0x08, 0x00, 0x1A, 0x09, b'x']);
        assert_eq!(
            deaggregate(&seal(&body)),
            Err(KplError::Malformed {
                offset: 13,
                problem: LengthPastEnd
            })
        );
    }

    // ---- accepted variations ----

    #[test]
    fn zero_user_records_is_an_empty_vec() {
        assert_eq!(deaggregate(&seal(b"")), Ok(vec![]));
        let mut body = Vec::new();
        put_len(&mut body, 1, b"unused key");
        assert_eq!(deaggregate(&seal(&body)), Ok(vec![]));
    }

    #[test]
    fn unknown_fields_are_skipped() {
        let mut rec = Vec::new();
        put_uint(&mut rec, 15, 123_456_789); // varint
        put_uint(&mut rec, 1, 1);
        put_len(&mut rec, 16, b"unknown length-delimited"); // two-byte tag
        put_tag(&mut rec, 17, FIXED64);
        rec.extend_from_slice(&[0xAA; 8]);
        put_len(&mut rec, 3, b"payload");
        put_tag(&mut rec, 18, FIXED32);
        rec.extend_from_slice(&[0xBB; 4]);
        let mut tag = Vec::new(); // tags = 4, a real Tag message
        put_len(&mut tag, 1, b"key");
        put_len(&mut tag, 2, b"value");
        put_len(&mut rec, 4, &tag);
        put_uint(&mut rec, 0x1FFF_FFFF, u64::MAX); // largest field number, 10-byte varint
        put_uint(&mut rec, 2, 0);

        let mut body = Vec::new();
        put_uint(&mut body, 4, 7); // unknown top-level fields of every wire type
        put_len(&mut body, 1, b"first");
        put_tag(&mut body, 9, FIXED32);
        body.extend_from_slice(&[0; 4]);
        put_len(&mut body, 1, b"second");
        put_len(&mut body, 2, b"42");
        put_len(&mut body, 100, &[0xFF; 200]);
        put_len(&mut body, 3, &rec);
        put_tag(&mut body, 5, FIXED64);
        body.extend_from_slice(&[0; 8]);

        assert_eq!(
            deaggregate(&seal(&body)),
            Ok(vec![UserRecord {
                partition_key: "second",
                explicit_hash_key: Some("42"),
                data: b"payload",
            }])
        );
    }

    #[test]
    fn tables_after_records_and_repeated_fields() {
        let mut rec = record(0, None, b"old");
        put_len(&mut rec, 3, b"new"); // last value wins, as in protobuf
        put_uint(&mut rec, 1, 1);
        let mut body = Vec::new();
        put_len(&mut body, 3, &rec);
        put_len(&mut body, 3, &record(0, Some(0), b"second"));
        put_len(&mut body, 1, b"a");
        put_len(&mut body, 2, b"1");
        put_len(&mut body, 1, b"b");
        assert_eq!(
            deaggregate(&seal(&body)),
            Ok(vec![
                UserRecord {
                    partition_key: "b",
                    explicit_hash_key: None,
                    data: b"new",
                },
                UserRecord {
                    partition_key: "a",
                    explicit_hash_key: Some("1"),
                    data: b"second",
                },
            ])
        );
    }

    // ---- property-style: arbitrary corruption never panics; valid records round-trip ----

    struct XorShift(u64);

    impl XorShift {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            self.0
        }

        fn below(&mut self, n: usize) -> usize {
            (self.next() % n as u64) as usize
        }
    }

    fn mutate(rng: &mut XorShift, input: &mut Vec<u8>) {
        let rounds = 1 + rng.below(4);
        for _ in 0..rounds {
            let len = input.len();
            match rng.below(7) {
                0 if len > 0 => {
                    let i = rng.below(len);
                    input[i] ^= 1 << rng.below(8);
                }
                1 if len > 0 => {
                    let i = rng.below(len);
                    input[i] = rng.next() as u8;
                }
                2 => input.truncate(rng.below(len + 1)),
                3 => {
                    let i = rng.below(len + 1);
                    input.insert(i, rng.next() as u8);
                }
                4 if len > 0 => {
                    input.remove(rng.below(len));
                }
                5 if len > 0 => {
                    // A run of 0x80/0xFF: long varints.
                    let i = rng.below(len);
                    let end = (i + 1 + rng.below(12)).min(len);
                    let fill = if rng.below(2) == 0 { 0x80 } else { 0xFF };
                    input[i..end].fill(fill);
                }
                _ if len > 0 => {
                    // Duplicate a slice somewhere else.
                    let a = rng.below(len);
                    let b = (a + rng.below(16)).min(len);
                    let chunk = input[a..b].to_vec();
                    let at = rng.below(len + 1);
                    input.splice(at..at, chunk);
                }
                _ => input.push(rng.next() as u8),
            }
        }
    }

    #[test]
    fn arbitrary_corruption_never_panics() {
        let mut rng = XorShift(0x9E37_79B9_7F4A_7C15);
        let sources: Vec<&[u8]> = ["plain-text-3", "explicit-hash-key", "edge-cases"]
            .into_iter()
            .map(fixture)
            .collect();
        let (mut ok, mut err) = (0, 0);
        for i in 0..10_000 {
            let source = sources[i % sources.len()];
            let mut body = body_of(source).to_vec();
            mutate(&mut rng, &mut body);
            // Sealed, so the protobuf reader sees the corruption (raw corruption would almost
            // always stop at the digest).
            let sealed = seal(&body);
            match deaggregate(&sealed) {
                Ok(records) => {
                    ok += 1;
                    let range = sealed.as_ptr_range();
                    for r in records {
                        assert!(r.data.is_empty() || range.contains(&r.data.as_ptr()));
                    }
                }
                Err(e) => {
                    err += 1;
                    assert!(!e.is_not_aggregated());
                    // Offsets point inside the protobuf.
                    if let KplError::Malformed { offset, .. }
                    | KplError::InvalidUtf8 { offset, .. } = e
                    {
                        assert!((MAGIC.len()..=sealed.len() - DIGEST_LEN).contains(&offset));
                    }
                }
            }
            // Unsealed: the whole input, magic and digest included, is fair game.
            let mut raw = source.to_vec();
            mutate(&mut rng, &mut raw);
            if let Ok(records) = deaggregate(&raw) {
                assert!(records.len() <= 4);
            }
        }
        assert!(ok > 100 && err > 1_000, "ok {ok}, err {err}");
    }

    #[test]
    fn valid_records_round_trip() {
        let mut rng = XorShift(0x2545_F491_4F6C_DD1D);
        for _ in 0..1_000 {
            let pk_count = 1 + rng.below(40);
            let pks: Vec<String> = (0..pk_count)
                .map(|i| {
                    let len = rng.below(300);
                    let c = ['a', 'é', '日', '🚀'][rng.below(4)];
                    format!("{i}-{}", c.to_string().repeat(len / c.len_utf8()))
                })
                .collect();
            let ehk_count = rng.below(5);
            let ehks: Vec<String> = (0..ehk_count).map(|_| rng.next().to_string()).collect();
            let users: Vec<(usize, Option<usize>, Vec<u8>)> = (0..rng.below(60))
                .map(|_| {
                    let pk = rng.below(pk_count);
                    let ehk = (ehk_count > 0 && rng.below(2) == 0).then(|| rng.below(ehk_count));
                    let len = [0, 1, 127, 128, 300, 5_000][rng.below(6)];
                    let data = (0..len).map(|_| rng.next() as u8).collect();
                    (pk, ehk, data)
                })
                .collect();

            let mut body = Vec::new();
            for pk in &pks {
                put_len(&mut body, 1, pk.as_bytes());
            }
            for ehk in &ehks {
                put_len(&mut body, 2, ehk.as_bytes());
            }
            for (pk, ehk, data) in &users {
                let mut rec = record(*pk as u64, ehk.map(|e| e as u64), data);
                if rng.below(4) == 0 {
                    put_uint(&mut rec, 15 + rng.below(1000) as u64, rng.next());
                }
                put_len(&mut body, 3, &rec);
                if rng.below(8) == 0 {
                    put_len(&mut body, 16, b"unknown");
                }
            }

            let sealed = seal(&body);
            let got = deaggregate(&sealed).expect("valid record");
            assert_eq!(got.len(), users.len());
            for (user, (pk, ehk, data)) in got.iter().zip(&users) {
                assert_eq!(user.partition_key, pks[*pk]);
                assert_eq!(user.explicit_hash_key, ehk.map(|e| ehks[e].as_str()));
                assert_eq!(user.data, &data[..]);
            }
        }
    }

    #[test]
    fn errors_read_well() {
        assert_eq!(
            KplError::Malformed {
                offset: 17,
                problem: Malformation::LengthPastEnd
            }
            .to_string(),
            "KPL aggregated record: malformed protobuf at byte 17: field length past the end of the message"
        );
        assert_eq!(
            KplError::PartitionKeyIndexOutOfRange {
                record: 2,
                index: 9,
                len: 3
            }
            .to_string(),
            "KPL aggregated record: user record 2 has partition key index 9, but the table has 3 keys"
        );
    }
}

//! The masking engine: no credential, token or card number leaves the forwarder.
//!
//! Three kinds of rules, all built once at cold start:
//! - **sensitive keys** ([`keys`]): in JSON documents the whole value under a key such as
//!   `password`, `client-secret` or `accessToken` is replaced ([`json`]); in free text the
//!   value after `key=`, `key: `, `"key":`, `key =>`, `?key=` … is ([`text`]);
//! - **value detectors** ([`detectors`]): secrets recognisable by their shape anywhere (AWS
//!   keys, JWTs, PEM blocks, vendor tokens, URL passwords, Bearer/Basic credentials; the
//!   commonest shapes found by hand-written walks in `tokens`, tested equal to their regexes),
//!   and payment card numbers that pass the Luhn check ([`card`]);
//! - optional **PII** detectors (emails, IP addresses, phone numbers) and user-supplied keys
//!   and patterns.
//!
//! Cost control: most log lines hold nothing to mask. One multi-literal search (the
//! prefilter, over explicit case variants so it keeps its SIMD path) finds every trigger
//! literal in a line; when there is none, and no digit run long enough to be a card, the line
//! is left alone without running a single regex. Otherwise only the detectors whose triggers
//! were seen run.
//!
//! Replacement: `[MASKED:<detector>]`, or with [`MaskMode::Hash`]
//! `[MASKED:<detector>:<16 hex digits of HMAC-SHA256(key, secret)>]`, so equal secrets stay
//! correlatable without being revealed. Text outside masked spans is never changed, and masking
//! is idempotent (a marker is never masked again).

pub mod card;
pub mod detectors;
pub mod json;
pub mod keys;
pub mod pairs;
pub mod pem;
pub mod text;
mod tokens;

use std::borrow::Cow;
use std::collections::BTreeMap;

use aho_corasick::packed;
use hmac::{Hmac, KeyInit, Mac};
use memchr::memmem;
use regex::Regex;
use sha2::Sha256;

use keys::{KeyClass, KeyRules};
use text::Wrap;

/// A span of text to replace.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Span {
    pub start: usize,
    pub end: usize,
    pub name: &'static str,
    pub wrap: Wrap,
}

/// Which PII detectors are on.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PiiKinds {
    pub email: bool,
    pub ip: bool,
    pub phone: bool,
}

/// How masked values are replaced.
#[derive(Clone, Default, PartialEq, Eq)]
pub enum MaskMode {
    /// `[MASKED:<detector>]`.
    #[default]
    Marker,
    /// `[MASKED:<detector>:<hmac>]` with this key.
    Hash(Vec<u8>),
}

impl std::fmt::Debug for MaskMode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The key is a secret: never print it.
        match self {
            MaskMode::Marker => f.write_str("Marker"),
            MaskMode::Hash(_) => f.write_str("Hash(<key>)"),
        }
    }
}

/// Masking options (the defaults mask every built-in secret and no PII).
#[derive(Debug, Clone, Default)]
pub struct MaskConfig {
    pub pii: PiiKinds,
    /// Extra sensitive key names (`MASK_KEYS`).
    pub extra_keys: Vec<String>,
    /// Extra regexes (`MASK_PATTERNS`); capture group 1, or the whole match, is masked.
    pub extra_patterns: Vec<String>,
    pub mode: MaskMode,
}

/// Why the masking configuration is unusable.
#[derive(Debug, thiserror::Error)]
pub enum MaskError {
    #[error("MASK_PATTERNS pattern {index} is not a valid regex: {error}")]
    Pattern { index: usize, error: String },
    #[error("cannot build the masking prefilter: {0}")]
    Prefilter(String),
}

/// Per-detector counts of masked values (never the values).
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct MaskCounts(pub BTreeMap<&'static str, u64>);

impl MaskCounts {
    fn add(&mut self, name: &'static str) {
        *self.0.entry(name).or_default() += 1;
    }

    pub fn total(&self) -> u64 {
        self.0.values().sum()
    }

    pub fn merge(&mut self, other: &MaskCounts) {
        for (k, v) in &other.0 {
            *self.0.entry(k).or_default() += v;
        }
    }
}

struct Detector {
    name: &'static str,
    regex: Regex,
    validate: Option<fn(&str) -> bool>,
    finder: Option<detectors::Finder>,
    /// The masked span is the whole match (no group, or group 1 spans the pattern but for
    /// word boundaries): matches are found without resolving captures, a second pass the
    /// regex engine would otherwise make over every match.
    whole: bool,
}

enum Prefilter {
    /// The packed (Teddy) searcher and, for each of its pattern ids, the caller's index.
    Packed(packed::Searcher, Vec<usize>),
    Automaton(aho_corasick::AhoCorasick),
}

impl Prefilter {
    /// A leftmost-longest searcher for `patterns` (SIMD when possible).
    fn new(patterns: &[String]) -> Result<Self, MaskError> {
        let order = teddy_order(patterns);
        let packed = packed::Config::new()
            .match_kind(packed::MatchKind::LeftmostLongest)
            .heuristic_pattern_limits(false)
            .builder()
            .extend(order.iter().map(|&i| &patterns[i]))
            .build();
        Ok(match packed {
            Some(searcher) => Prefilter::Packed(searcher, order),
            None => Prefilter::Automaton(
                aho_corasick::AhoCorasick::builder()
                    .match_kind(aho_corasick::MatchKind::LeftmostLongest)
                    .build(patterns)
                    .map_err(|e| MaskError::Prefilter(e.to_string()))?,
            ),
        })
    }

    /// Calls `visit(pattern, start)` for every match until it returns true; returns whether
    /// it did.
    fn any(&self, text: &[u8], mut visit: impl FnMut(usize, usize) -> bool) -> bool {
        match self {
            Prefilter::Packed(s, order) => s
                .find_iter(text)
                .any(|m| visit(order[m.pattern().as_usize()], m.start())),
            Prefilter::Automaton(a) => a
                .find_iter(text)
                .any(|m| visit(m.pattern().as_usize(), m.start())),
        }
    }
}

/// How often each ASCII byte occurs in escaped log text, in 1/10,000 (measured on the
/// benchmark workloads and the masking fixtures: JSON, access logs, stack traces, ids).
const LOG_BYTE_FREQ: [u16; 128] = [
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 32, 0, 0, 0, 0, 0, //
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, //
    338, 1, 735, 1, 4, 1, 1, 6, 17, 17, 1, 15, 192, 253, 142, 90, //
    338, 317, 251, 144, 180, 171, 178, 161, 156, 134, 299, 6, 1, 24, 1, 1, //
    1, 24, 10, 28, 13, 35, 13, 12, 13, 54, 5, 10, 27, 39, 30, 29, //
    31, 2, 39, 45, 77, 16, 7, 10, 7, 5, 13, 17, 800, 17, 1, 45, //
    1, 406, 101, 290, 214, 620, 123, 58, 126, 207, 11, 31, 108, 139, 229, 233, //
    116, 32, 310, 217, 382, 135, 43, 12, 33, 82, 20, 27, 1, 27, 1, 0, //
];

/// An order in which to give `patterns` to the packed searcher (indexes into `patterns`).
///
/// Teddy puts pattern id `i` in bucket `buckets - 1 - i % buckets` (patterns sharing the low
/// nibbles of their first bytes share a bucket) and flags a position as a candidate for a
/// bucket when each of its first bytes has a low and a high nibble some pattern of the bucket
/// has there. Every false candidate costs a verification; which patterns share a bucket
/// changed the searchers' cost by 2× on the benchmark. This order comes from a short,
/// deterministic local search that lowers the expected number of false candidates per byte
/// of typical log text ([`LOG_BYTE_FREQ`]). The match semantics do not depend on the order
/// (leftmost-longest over distinct literals); only the speed does.
///
/// 5,000 swaps (~2.5 ms per searcher at cold start): after 1,500 the trigger searcher still
/// took 7 % longer on the benchmark text; past 5,000 it gained nothing more.
fn teddy_order(patterns: &[String]) -> Vec<usize> {
    let n = patterns.len();
    let mut order: Vec<usize> = (0..n).collect();
    let Some(min_len) = patterns.iter().map(String::len).min() else {
        return order;
    };
    if !(3..=64).contains(&n) || min_len == 0 {
        return order;
    }
    let mask_len = min_len.min(4);
    let buckets = if n > 32 { 16 } else { 8 };
    // rows[lo][his]: frequency of the bytes with low nibble `lo` and a high nibble in the
    // set `his` (ASCII only).
    let mut rows = vec![[0u32; 256]; 16];
    for (lo, row) in rows.iter_mut().enumerate() {
        for (his, sum) in row.iter_mut().enumerate() {
            *sum = (0..8)
                .filter(|h| his & (1 << h) != 0)
                .map(|h| u32::from(LOG_BYTE_FREQ[h << 4 | lo]))
                .sum();
        }
    }
    // Per pattern: the low nibbles of its first bytes (Teddy's grouping key) and its length.
    let keys: Vec<u32> = patterns
        .iter()
        .map(|p| {
            p.bytes()
                .take(mask_len)
                .fold(0, |k, b| k << 4 | u32::from(b & 15))
        })
        .collect();
    // Per pattern: its length class (0 = longest), a dense id of its key and its nibbles.
    let mut lengths: Vec<usize> = patterns.iter().map(String::len).collect();
    lengths.sort_unstable_by(|a, b| b.cmp(a));
    lengths.dedup();
    let class_of: Vec<usize> = patterns
        .iter()
        .map(|p| lengths.iter().position(|&l| l == p.len()).unwrap_or(0))
        .collect();
    let mut distinct_keys = keys.clone();
    distinct_keys.sort_unstable();
    distinct_keys.dedup();
    let key_id: Vec<usize> = keys
        .iter()
        .map(|k| distinct_keys.binary_search(k).unwrap_or(0))
        .collect();
    let nibbles: Vec<[(u16, u16); 4]> = patterns
        .iter()
        .map(|p| {
            let mut masks = [(0u16, 0u16); 4];
            for (mask, &byte) in masks.iter_mut().zip(&p.as_bytes()[..mask_len]) {
                *mask = (1 << (byte & 15), 1 << (byte >> 4));
            }
            masks
        })
        .collect();
    // Where each length class starts in verification order (counting sort by class).
    let mut class_start = vec![0usize; lengths.len() + 1];
    for &c in &class_of {
        class_start[c + 1] += 1;
    }
    for c in 0..lengths.len() {
        class_start[c + 1] += class_start[c];
    }
    const UNASSIGNED: usize = usize::MAX;
    let mut verification = vec![(0usize, 0usize); n];
    let mut next = vec![0usize; lengths.len()];
    let mut group_bucket = vec![UNASSIGNED; distinct_keys.len()];
    let mut cost = |order: &[usize]| -> f64 {
        // Teddy assigns buckets in its verification order: longest first, then by id.
        next.copy_from_slice(&class_start[..lengths.len()]);
        for (id, &pattern) in order.iter().enumerate() {
            let slot = &mut next[class_of[pattern]];
            verification[*slot] = (id, pattern);
            *slot += 1;
        }
        group_bucket.fill(UNASSIGNED);
        // Per bucket and mask position: low and high nibble sets; pattern count.
        let mut lo = [[0u16; 4]; 16];
        let mut hi = [[0u16; 4]; 16];
        let mut count = [0u32; 16];
        for &(id, pattern) in &verification {
            let group = &mut group_bucket[key_id[pattern]];
            if *group == UNASSIGNED {
                *group = buckets - 1 - id % buckets;
            }
            let bucket = *group;
            for (k, &(l, h)) in nibbles[pattern][..mask_len].iter().enumerate() {
                lo[bucket][k] |= l;
                hi[bucket][k] |= h;
            }
            count[bucket] += 1;
        }
        let mut total = 0.0;
        for b in (0..buckets).filter(|&b| count[b] != 0) {
            let mut p = 1.0;
            for k in 0..mask_len {
                let his = usize::from(hi[b][k] & 0xff);
                let (mut s, mut los) = (0u32, lo[b][k]);
                while los != 0 {
                    s += rows[los.trailing_zeros() as usize][his];
                    los &= los - 1;
                }
                p *= f64::from(s) / 10_000.0;
            }
            total += p * (2.0 + f64::from(count[b]));
        }
        total
    };
    let mut best = cost(&order);
    let mut rng: u64 = 0x9e37_79b9_7f4a_7c15;
    for _ in 0..5000 {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        let (i, j) = ((rng % n as u64) as usize, ((rng >> 32) % n as u64) as usize);
        if i == j {
            continue;
        }
        order.swap(i, j);
        let c = cost(&order);
        if c <= best {
            best = c;
        } else {
            order.swap(i, j);
        }
    }
    order
}

/// The literal hits of the messages of one CloudWatch Logs payload ([`Masker::scan_messages`]);
/// reused from payload to payload.
#[derive(Debug, Default)]
pub struct PayloadScan {
    /// The messages (still escaped), each followed by a `"`: the text the searchers run over.
    /// Searching the messages alone, not the payload, skips the ~100 bytes of event id,
    /// timestamp and keys around each message (a quarter of the payload).
    text: Vec<u8>,
    /// Per message, in order: its address and length (never read through) and its offset in
    /// `text`. A message is recognised by address and length; any other text is searched on
    /// its own.
    messages: Vec<(usize, usize, usize)>,
    /// The message expected next.
    next_message: usize,
    /// Offset in `text` and what starts there, in ascending offsets.
    hits: Vec<(usize, Found)>,
    /// The first hit not yet passed by a message.
    next: usize,
    /// A byte of each digit run in `text` the card pre-check flags ([`card::flag_runs`]), in
    /// ascending order: one pass over all the messages instead of one call per message.
    flags: Vec<usize>,
    /// The first flag not yet passed by a message.
    next_flag: usize,
    /// Keys classified in this payload's messages.
    keys: KeyMemo,
    /// The hits of the message [`Masker::must_mask_escaped_in`] last sent the slow way, at
    /// their offsets in the unescaped message, when they can stand for a search of it
    /// ([`PayloadScan::unescaped_hits`]).
    unescaped: Vec<(usize, Found)>,
    unescaped_valid: bool,
    /// Whether the card pre-check flagged a digit run in that message.
    unescaped_cards: bool,
}

/// The classes of recently classified keys: the words around stem hits repeat from message to
/// message (a function named `auth-authorizer` logs its name in every line), and so do the
/// keys of JSON logs; classifying one costs ~300-600 instructions, looking it up ~40.
#[derive(Debug, Default)]
pub(crate) struct KeyMemo {
    /// The [`Masker::id`] the entries are for (0: none).
    owner: u64,
    /// Per slot: the key's length (0 when empty), its bytes and its class.
    slots: Vec<(u8, [u8; KEY_MEMO_LEN], Option<KeyClass>)>,
}

/// The longest key the memo holds, and its number of slots.
const KEY_MEMO_LEN: usize = 30;
const KEY_MEMO_SLOTS: usize = 64;

impl KeyMemo {
    pub(crate) const fn new() -> Self {
        Self {
            owner: 0,
            slots: Vec::new(),
        }
    }

    /// `masker.keys.classify(key)`, from the memo when `key` was the last classified in its
    /// slot.
    pub(crate) fn classify(&mut self, masker: &Masker, key: &str) -> Option<KeyClass> {
        let bytes = key.as_bytes();
        let (Some(&first), Some(&last)) = (bytes.first(), bytes.last()) else {
            return masker.keys.classify(key);
        };
        if bytes.len() > KEY_MEMO_LEN {
            return masker.keys.classify(key);
        }
        if self.owner != masker.id {
            self.owner = masker.id;
            self.slots.clear();
            self.slots
                .resize(KEY_MEMO_SLOTS, (0, [0; KEY_MEMO_LEN], None));
        }
        let middle = bytes[bytes.len() / 2];
        let hash = bytes.len() * 31 + usize::from(first) * 7 + usize::from(middle) * 3;
        let slot = (hash + usize::from(last)) % KEY_MEMO_SLOTS;
        let Some((len, stored, class)) = self.slots.get_mut(slot) else {
            return masker.keys.classify(key);
        };
        if usize::from(*len) == bytes.len() && stored[..bytes.len()] == *bytes {
            return *class;
        }
        let found = masker.keys.classify(key);
        *len = bytes.len() as u8;
        stored[..bytes.len()].copy_from_slice(bytes);
        *class = found;
        found
    }
}

impl PayloadScan {
    /// The literal hits of the message [`Masker::must_mask_escaped_in`] last answered true
    /// for, at their offsets in that message once unescaped — `None` when they cannot stand
    /// for a search of the unescaped text (a `\u` or `\/` escape may hide a literal).
    ///
    /// Without those two escapes, unescaping turns each 2-byte escape into one byte that no
    /// literal holds (`"`, `\`, control characters), so a literal of the unescaped text is
    /// one of the escaped text, one byte to the left per escape before it. A hit may also start
    /// on the letter of an escape (`npm_` in `\npm_`): it then points at the control
    /// character, and the regex that confirms every detector finds nothing there.
    pub fn unescaped_hits(&self) -> Option<Hits<'_>> {
        self.unescaped_valid.then_some(Hits {
            hits: &self.unescaped,
            cards: self.unescaped_cards,
        })
    }

    /// Maps the hits of the escaped message `escaped` (from `self.hits[first]`, at `offset` in
    /// `text`) into `self.unescaped`; false when one is an escape the mapping cannot handle.
    fn map_unescaped(
        &mut self,
        escaped: &str,
        first: usize,
        offset: usize,
        double_backslash: &memmem::Finder<'_>,
    ) -> bool {
        let end = offset + escaped.len();
        let bytes = escaped.as_bytes();
        self.unescaped.clear();
        // Each escape is two bytes, the first a `\`, except `\\` (two backslashes, one
        // escape): without it, the escapes before a hit are the backslashes before it,
        // counted a block at a time (JSON logs escape every quote: one `memchr` call per
        // escape cost more than the search this mapping saves).
        let escaped_backslash = double_backslash.find(bytes).is_some();
        let (mut counted_to, mut removed) = (0, 0);
        for &(at, found) in self.hits[first..].iter().take_while(|(at, _)| *at < end) {
            if matches!(found, Found::Escape) {
                return false;
            }
            let at = at - offset;
            if escaped_backslash {
                // Escape by escape (rare): `counted_to` is past the last escape counted.
                while let Some(q) = bytes
                    .get(counted_to..at)
                    .and_then(|r| memchr::memchr(b'\\', r))
                {
                    removed += 1;
                    counted_to += q + 2;
                }
            } else {
                removed += count_backslashes(&bytes[counted_to..at]);
                counted_to = at;
            }
            self.unescaped.push((at - removed, found));
        }
        true
    }

    /// The flags in `text[start..end]` (a scanned message).
    fn flags_in(&mut self, start: usize, end: usize) -> &[usize] {
        let flags = &self.flags;
        let mut i = self.next_flag;
        if i > 0 && flags.get(i - 1).is_some_and(|&at| at >= start) {
            // Out of payload order: find the first flag again.
            i = flags.partition_point(|&at| at < start);
        }
        while flags.get(i).is_some_and(|&at| at < start) {
            i += 1;
        }
        let mut last = i;
        while flags.get(last).is_some_and(|&at| at < end) {
            last += 1;
        }
        self.next_flag = last;
        &flags[i..last]
    }

    /// The offset in `text` of the scanned message `escaped` (found by address and length).
    fn locate(&mut self, escaped: &str) -> Option<usize> {
        let key = (escaped.as_ptr() as usize, escaped.len());
        let index = match self.messages.get(self.next_message) {
            Some(&(at, len, _)) if (at, len) == key => self.next_message,
            // Out of order or skipped (an event that failed before masking): messages of a
            // payload lie at ascending addresses.
            _ => self
                .messages
                .binary_search_by_key(&key.0, |&(at, _, _)| at)
                .ok()
                .filter(|&i| self.messages[i].1 == key.1)?,
        };
        self.next_message = index + 1;
        Some(self.messages[index].2)
    }
}

/// The backslashes in `bytes`, counted in blocks of at most 255 bytes by one-byte counters
/// (a loop the compiler turns into vector compares and adds).
fn count_backslashes(bytes: &[u8]) -> usize {
    bytes
        .chunks(255)
        .map(|block| {
            let n = block.iter().fold(0u8, |n, &b| n + u8::from(b == b'\\'));
            usize::from(n)
        })
        .sum()
}

/// Literal hits of a text found before it was unescaped ([`PayloadScan::unescaped_hits`]),
/// handed to the slow path so it does not search the text again.
#[derive(Debug, Clone, Copy)]
pub struct Hits<'a> {
    hits: &'a [(usize, Found)],
    /// False when the card pre-check flagged no digit run in the text: no part of it can hold
    /// a card number (escapes other than `\u` neither make nor join digit runs).
    cards: bool,
}

impl Hits<'_> {
    /// The hits of `text[from..to]`, at offsets in that part, kept in `buf`.
    fn within<'b>(&self, from: usize, to: usize, buf: &'b mut Vec<(usize, Found)>) -> Hits<'b> {
        let first = self.hits.partition_point(|&(at, _)| at < from);
        let last = self.hits.partition_point(|&(at, _)| at < to);
        buf.clear();
        buf.extend(self.hits[first..last].iter().map(|&(at, f)| (at - from, f)));
        Hits {
            hits: buf,
            cards: self.cards,
        }
    }
}

#[derive(Debug, Clone, Copy)]
enum Found {
    Stem(usize),
    Trigger(usize),
    Short(usize),
    /// `\u` or `\/`: the message goes the slow way.
    Escape,
}

/// The compiled masking engine. Build once, share everywhere.
pub struct Masker {
    /// Finds the key stems ([`keys::TRIGGER_STEMS`] and `MASK_KEYS` words, in lower,
    /// Capitalized and UPPER case). Kept apart from the detectors' literals: two small
    /// searchers cost less than one large one (fewer false candidates to verify), and a stem
    /// hit is never hidden by an overlapping detector literal.
    stems: Prefilter,
    /// Detectors a stem hit wakes (`stems_run[pattern]`): a trigger literal that is also a stem
    /// (`secret`, `Bearer`) is searched once, by the stem searcher.
    stems_run: Vec<u64>,
    /// Finds the detectors' trigger literals; `triggers_run[pattern]` has bit `i` set when
    /// detector `i` must run.
    triggers: Prefilter,
    triggers_run: Vec<u64>,
    /// The bits of the `url_password` and `url_token` detectors and the trigger pattern `://`:
    /// that literal is in most access-log lines, but a URL only holds a credential when `@`
    /// follows in its authority, which a byte loop tells far more cheaply than the regexes.
    url_password: (u64, Option<usize>),
    /// Trigger literals too short for the SIMD searcher, each searched on its own (`memmem`
    /// keeps a SIMD path for 2-byte needles, `str::contains` does not).
    short: Vec<(memmem::Finder<'static>, u64)>,
    /// `\u` and `\/` in escaped text: such a line always takes the slow path (see
    /// [`Masker::must_mask_escaped`]).
    unicode_escape: memmem::Finder<'static>,
    slash_escape: memmem::Finder<'static>,
    /// `\\`, for [`PayloadScan::map_unescaped`].
    double_backslash: memmem::Finder<'static>,
    /// The payload scan's two-byte literals in one pass: `\u`, `\/` and the two-byte
    /// `short` literals, with what each pair is.
    payload_pairs: (pairs::PairFinder, Vec<Found>),
    detectors: Vec<Detector>,
    /// Detectors that run on every line (custom patterns, PII without a literal).
    always: u64,
    keys: KeyRules,
    mode: MaskMode,
    /// False only for [`Masker::disabled`].
    enabled: bool,
    /// Unique per masker built in this process: what a [`KeyMemo`] is for.
    id: u64,
}

/// The next [`Masker::id`].
static NEXT_MASKER_ID: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);

/// Index of the first user pattern in `detectors` (they come after built-ins and PII).
const MAX_DETECTORS: usize = 64;

impl Masker {
    pub fn new(config: &MaskConfig) -> Result<Self, MaskError> {
        let mut detectors = Vec::new();
        let mut literals: Vec<(String, u64)> = Vec::new();
        let mut always = 0u64;
        let add_literal = |lit: &str, run: u64, literals: &mut Vec<(String, u64)>| match literals
            .iter_mut()
            .find(|(l, _)| l == lit)
        {
            Some((_, r)) => *r |= run,
            None => literals.push((lit.to_owned(), run)),
        };

        let pii = [
            (config.pii.email, "email"),
            (config.pii.ip, "ipv4"),
            (config.pii.ip, "ipv6"),
            (config.pii.phone, "phone"),
        ];
        let enabled_pii = detectors::PII
            .iter()
            .filter(|s| pii.iter().any(|(on, name)| *on && *name == s.name));
        for spec in detectors::SECRETS.iter().chain(enabled_pii) {
            let regex = Regex::new(spec.pattern)
                .map_err(|e| MaskError::Prefilter(format!("{}: {e}", spec.name)))?;
            let bit = 1u64 << detectors.len();
            for t in spec.triggers {
                add_literal(t, bit, &mut literals);
            }
            detectors.push(Detector {
                name: spec.name,
                whole: masks_whole_match(&regex),
                regex,
                validate: spec.validate,
                finder: spec.finder,
            });
        }
        // PII shapes without a distinctive literal (spaces, dots) run on every line.
        for (i, d) in detectors.iter().enumerate() {
            if matches!(d.name, "phone" | "ipv4" | "ipv6") {
                always |= 1 << i;
            }
        }
        for (index, pattern) in config.extra_patterns.iter().enumerate() {
            if detectors.len() >= MAX_DETECTORS {
                return Err(MaskError::Pattern {
                    index,
                    error: "too many patterns".to_owned(),
                });
            }
            let regex = Regex::new(pattern).map_err(|e| MaskError::Pattern {
                index,
                error: e.to_string(),
            })?;
            always |= 1 << detectors.len();
            detectors.push(Detector {
                name: "custom_pattern",
                whole: masks_whole_match(&regex),
                regex,
                validate: None,
                finder: None,
            });
        }

        let keys = KeyRules::new(&config.extra_keys);
        let mut stems: Vec<String> = Vec::new();
        let extra_stems = config.extra_keys.iter().flat_map(|k| extra_key_stems(k));
        for stem in keys::TRIGGER_STEMS
            .iter()
            .map(|s| s.to_string())
            .chain(extra_stems)
        {
            let mut capitalized = stem.clone();
            capitalized[..1].make_ascii_uppercase();
            for variant in [stem.clone(), capitalized, stem.to_ascii_uppercase()] {
                if !stems.contains(&variant) {
                    stems.push(variant);
                }
            }
        }
        // Leftmost-longest matching reports only the longest of literals that start at the
        // same place: a literal also announces every literal it contains.
        let snapshot = literals.clone();
        for (lit, run) in literals.iter_mut() {
            for (other, r) in &snapshot {
                if other.len() < lit.len() && lit.contains(other.as_str()) {
                    *run |= r;
                }
            }
        }

        // Trigger literals that are also stems are announced by the stem searcher.
        let mut stems_run = vec![0u64; stems.len()];
        literals.retain(|(lit, run)| match stems.iter().position(|s| s == lit) {
            Some(i) => {
                stems_run[i] |= run;
                false
            }
            None => true,
        });

        // Literals shorter than 3 bytes would force the SIMD searcher onto 2-byte fingerprints
        // for every literal (many more false candidates): they are checked on their own.
        let (short, literals): (Vec<_>, Vec<_>) =
            literals.into_iter().partition(|(l, _)| l.len() < 3);
        let (patterns, triggers_run): (Vec<String>, Vec<u64>) = literals.into_iter().unzip();
        let mut payload_pairs = (vec![*b"\\u", *b"\\/"], vec![Found::Escape, Found::Escape]);
        for (k, (literal, _)) in short.iter().enumerate() {
            if let Ok(pair) = <[u8; 2]>::try_from(literal.as_bytes()) {
                payload_pairs.0.push(pair);
                payload_pairs.1.push(Found::Short(k));
            }
        }
        let payload_pairs = (pairs::PairFinder::new(payload_pairs.0), payload_pairs.1);
        Ok(Self {
            stems: Prefilter::new(&stems)?,
            stems_run,
            triggers: Prefilter::new(&patterns)?,
            triggers_run,
            url_password: (
                detectors
                    .iter()
                    .enumerate()
                    .filter(|(_, d)| matches!(d.name, "url_password" | "url_token"))
                    .fold(0, |bits, (i, _)| bits | 1 << i),
                patterns.iter().position(|p| p == "://"),
            ),
            short: short
                .into_iter()
                .map(|(l, r)| (memmem::Finder::new(l.as_bytes()).into_owned(), r))
                .collect(),
            unicode_escape: memmem::Finder::new(b"\\u"),
            slash_escape: memmem::Finder::new(b"\\/"),
            double_backslash: memmem::Finder::new(b"\\\\"),
            payload_pairs,
            detectors,
            always,
            keys,
            mode: config.mode.clone(),
            enabled: true,
            id: NEXT_MASKER_ID.fetch_add(1, std::sync::atomic::Ordering::Relaxed),
        })
    }

    /// A masker that masks nothing. The forwarder never uses it: it exists so benchmarks can
    /// measure the pipeline without masking, which is what the masking budget is relative to.
    pub fn disabled() -> Self {
        let mut masker =
            Self::new(&MaskConfig::default()).expect("the built-in rules always compile (tested)");
        masker.enabled = false;
        masker
    }

    /// False for [`Masker::disabled`].
    pub fn enabled(&self) -> bool {
        self.enabled
    }

    /// The key rules (for the JSON walker).
    pub fn keys(&self) -> &KeyRules {
        &self.keys
    }

    /// Whether the still-escaped content of a JSON string must be unescaped and masked:
    /// [`Masker::might_match`] on the escaped text, except that an escape can hide a trigger
    /// literal (`\u0041KIA…` is `AKIA…`, `https:\/\/` is `https://`), so such text always
    /// goes the slow way.
    pub fn must_mask_escaped(&self, escaped: &str) -> bool {
        self.enabled
            && (self.unicode_escape.find(escaped.as_bytes()).is_some()
                || self.slash_escape.find(escaped.as_bytes()).is_some()
                || self.might_match(escaped))
    }

    /// Searches the messages of a CloudWatch Logs payload (escaped, as the payload holds them)
    /// for every prefilter literal and escape at once, for [`Masker::must_mask_escaped_in`] to
    /// decide message by message.
    ///
    /// One search over all the messages costs ~40 % less than one per message (the searchers'
    /// setup and their slower path for a haystack's last bytes are paid once), and the answer
    /// is the same: each message is followed by a `"`, which no literal holds, so no match
    /// straddles two messages, and inside a message the matches are those a search of the
    /// message alone finds.
    pub fn scan_messages<'a>(
        &self,
        messages: impl IntoIterator<Item = &'a str>,
        scan: &mut PayloadScan,
    ) {
        scan.text.clear();
        scan.messages.clear();
        scan.next_message = 0;
        scan.hits.clear();
        scan.next = 0;
        scan.flags.clear();
        scan.next_flag = 0;
        if !self.literals_decide() {
            return;
        }
        for message in messages {
            let at = message.as_ptr() as usize;
            scan.messages.push((at, message.len(), scan.text.len()));
            scan.text.extend_from_slice(message.as_bytes());
            scan.text.push(b'"');
        }
        let (text, hits) = (&scan.text, &mut scan.hits);
        // Two-byte short literals come from the pair pass, with the escapes.
        self.literals_in(text, false, |at, found| hits.push((at, found)));
        let (pairs, found) = &self.payload_pairs;
        pairs.find_all(text, |at, k| hits.push((at, found[k])));
        hits.sort_unstable_by_key(|&(at, _)| at);
        card::flag_runs(text, &mut scan.flags);
    }

    /// [`Masker::must_mask_escaped`] for a message given to [`Masker::scan_messages`], from
    /// that scan's hits (messages in payload order are the fast case); text from anywhere else
    /// is searched on its own. The scan must be of the payload the message borrows from: a
    /// reused buffer holding another payload at the same address would be read with stale hits.
    pub fn must_mask_escaped_in(&self, escaped: &str, scan: &mut PayloadScan) -> bool {
        scan.unescaped_valid = false;
        if !self.literals_decide() {
            return self.must_mask_escaped(escaped);
        }
        let Some(offset) = scan.locate(escaped) else {
            return self.must_mask_escaped(escaped);
        };
        let end = offset + escaped.len();
        let (hits, memo) = (&scan.hits, &mut scan.keys);
        let mut i = scan.next;
        if i > 0 && hits.get(i - 1).is_some_and(|&(at, _)| at >= offset) {
            // Out of payload order after all: find the first hit again.
            i = hits.partition_point(|&(at, _)| at < offset);
        }
        while hits.get(i).is_some_and(|&(at, _)| at < offset) {
            i += 1;
        }
        let first = i;
        let mut run = 0u64;
        let mut examined_to = 0;
        let mut slow = false;
        while let Some(&(at, found)) = hits.get(i).filter(|&&(at, _)| at < end) {
            i += 1;
            let at = at - offset;
            match found {
                Found::Escape => {
                    slow = true;
                    break;
                }
                Found::Stem(pattern) => {
                    run |= self.stems_run[pattern];
                    if at >= examined_to {
                        let (key, key_end) = text::key_around(escaped, at);
                        examined_to = key_end;
                        if memo.classify(self, key).is_some() {
                            slow = true;
                            break;
                        }
                    }
                }
                Found::Trigger(pattern) => {
                    let mut bits = self.triggers_run[pattern];
                    let (url_bit, url_pattern) = self.url_password;
                    if url_pattern == Some(pattern) && !authority_has_at(escaped, at) {
                        bits &= !url_bit;
                    }
                    run |= bits;
                }
                Found::Short(k) => run |= self.short.get(k).map_or(0, |(_, r)| *r),
            }
        }
        scan.next = i;
        // The card pre-check of this message is the scan's: its flagged runs, if any.
        let flags = scan.flags_in(offset, end);
        let flagged = !flags.is_empty();
        let slow = slow || self.detector_confirms(escaped, run) || {
            let mut checked_to = 0;
            flags.iter().any(|&at| {
                if at - offset < checked_to {
                    return false;
                }
                let (found, run_end) = card::card_in_run(escaped, at - offset);
                checked_to = run_end;
                found
            })
        };
        if slow {
            scan.unescaped_valid =
                scan.map_unescaped(escaped, first, offset, &self.double_backslash);
            scan.unescaped_cards = flagged;
        }
        slow
    }

    /// Whether `text` may contain something to mask. False means masking would change
    /// nothing: the caller can skip it.
    ///
    /// This decides the cost of every clean line, so a literal hit alone is not enough: a key
    /// stem must widen to a key the rules call sensitive, and a detector's literal must be
    /// confirmed by its regex (`is_match`, no captures). Only then is the line unescaped and
    /// masked for real.
    pub fn might_match(&self, text: &str) -> bool {
        if !self.enabled {
            return false;
        }
        if self.always != 0 {
            return true;
        }
        // Hits inside a key already examined are skipped: each byte is widened over once.
        let mut examined_to = 0;
        let mut run = 0u64;
        let sensitive_key = self.stems.any(text.as_bytes(), |pattern, start| {
            run |= self.stems_run[pattern];
            if start < examined_to {
                return false;
            }
            let (key, end) = text::key_around(text, start);
            examined_to = end;
            self.keys.classify(key).is_some()
        });
        if sensitive_key {
            return true;
        }
        self.confirmed(text, run | self.detectors_to_run(text))
    }

    /// Whether one of the detectors in `run` matches `text`, or `text` holds a card number.
    fn confirmed(&self, text: &str, run: u64) -> bool {
        self.detector_confirms(text, run) || has_card_candidate(text)
    }

    /// Whether one of the detectors in `run` matches `text`.
    fn detector_confirms(&self, text: &str, mut run: u64) -> bool {
        // Bit by bit, not detector by detector: for most lines `run` is empty.
        while run != 0 {
            let i = run.trailing_zeros() as usize;
            if self.detectors.get(i).is_some_and(|d| match d.finder {
                // The finder's answer is the slow path's: it also applies `validate`.
                Some(finder) => {
                    let mut found = Vec::new();
                    finder(text, &mut found);
                    !found.is_empty()
                }
                None => d.regex.is_match(text),
            }) {
                return true;
            }
            run &= run - 1;
        }
        false
    }

    /// Which detectors to run on `text` (besides the ones that always run).
    fn detectors_to_run(&self, text: &str) -> u64 {
        let mut run = 0u64;
        for (finder, r) in &self.short {
            if finder.find(text.as_bytes()).is_some() {
                run |= r;
            }
        }
        self.triggers.any(text.as_bytes(), |pattern, _| {
            run |= self.triggers_run[pattern];
            false
        });
        run
    }

    /// Appends the start offset of every literal the prefilter searches for (key stems and
    /// detector triggers) in `text`, in ascending order, and returns true — or returns false
    /// when literals alone cannot tell a clean string (detectors that run on every line).
    ///
    /// [`json::mask_json`] scans a whole document once with it and masks as text only the
    /// strings holding a hit, instead of searching every string value on its own. The
    /// literals never contain `"` or `\`, so a hit never straddles a string's quotes or
    /// hides one inside it.
    pub(crate) fn literal_hits(&self, text: &str, hits: &mut Vec<usize>) -> bool {
        if !self.literals_decide() {
            return false;
        }
        self.literals_in(text.as_bytes(), true, |at, _| hits.push(at));
        hits.sort_unstable();
        true
    }

    /// Whether the prefilter's literals alone can tell a clean text: not with masking off, nor
    /// with detectors that run on every line (PII shapes, `MASK_PATTERNS`).
    fn literals_decide(&self) -> bool {
        self.enabled && self.always == 0
    }

    /// Calls `visit` for every prefilter literal in `bytes` (key stems, detector triggers,
    /// short literals — those of two bytes only with `two_byte_shorts`), searcher by searcher:
    /// sort the offsets to read them in order.
    fn literals_in(
        &self,
        bytes: &[u8],
        two_byte_shorts: bool,
        mut visit: impl FnMut(usize, Found),
    ) {
        self.stems.any(bytes, |pattern, start| {
            visit(start, Found::Stem(pattern));
            false
        });
        self.triggers.any(bytes, |pattern, start| {
            visit(start, Found::Trigger(pattern));
            false
        });
        for (i, (finder, _)) in self.short.iter().enumerate() {
            if two_byte_shorts || finder.needle().len() != 2 {
                for at in finder.find_iter(bytes) {
                    visit(at, Found::Short(i));
                }
            }
        }
    }

    /// Which detectors to run on `text`, and the offsets of key-stem hits.
    fn scan(&self, text: &str, key_hits: &mut Vec<usize>) -> u64 {
        let mut run = self.always;
        self.stems.any(text.as_bytes(), |pattern, start| {
            run |= self.stems_run[pattern];
            key_hits.push(start);
            false
        });
        run | self.detectors_to_run(text)
    }

    /// What [`Masker::scan`] tells from a search, told from hits found before.
    fn run_from_hits(&self, hits: Hits<'_>, key_hits: &mut Vec<usize>) -> u64 {
        let mut run = self.always;
        for &(at, found) in hits.hits {
            match found {
                Found::Stem(pattern) => {
                    run |= self.stems_run[pattern];
                    key_hits.push(at);
                }
                Found::Trigger(pattern) => run |= self.triggers_run[pattern],
                Found::Short(k) => run |= self.short.get(k).map_or(0, |(_, r)| *r),
                Found::Escape => {}
            }
        }
        run
    }

    /// Masks one log line: a JSON object line as JSON (values under sensitive keys replaced
    /// whole, the result still valid JSON), anything else as text. Borrowed when nothing was
    /// masked.
    pub fn mask_text<'a>(&self, text: &'a str) -> Cow<'a, str> {
        let mut out = String::new();
        let mut counts = MaskCounts::default();
        let trimmed = text.trim();
        let changed = if trimmed.starts_with('{')
            && trimmed.ends_with('}')
            && serde_json::from_str::<serde::de::IgnoredAny>(text).is_ok()
        {
            json::mask_json(self, text, &mut out, &mut counts, None)
        } else {
            self.mask_text_into(text, &mut out, &mut counts)
        };
        if changed {
            Cow::Owned(out)
        } else {
            Cow::Borrowed(text)
        }
    }

    /// Masks a JSON document (object or array) without re-serializing it.
    pub fn mask_json<'a>(&self, json_text: &'a str) -> Cow<'a, str> {
        let mut out = String::new();
        let mut counts = MaskCounts::default();
        if json::mask_json(self, json_text, &mut out, &mut counts, None) {
            Cow::Owned(out)
        } else {
            Cow::Borrowed(json_text)
        }
    }

    /// Masks a JSON document into `out` (which must be empty); true when anything changed.
    pub fn mask_json_into(
        &self,
        json_text: &str,
        out: &mut String,
        counts: &mut MaskCounts,
    ) -> bool {
        json::mask_json(self, json_text, out, counts, None)
    }

    /// [`Masker::mask_json_into`] with the literal hits of `json_text` already known
    /// ([`PayloadScan::unescaped_hits`]), or `None` to search for them.
    pub fn mask_json_with_hits(
        &self,
        json_text: &str,
        out: &mut String,
        counts: &mut MaskCounts,
        hits: Option<Hits<'_>>,
    ) -> bool {
        json::mask_json(self, json_text, out, counts, hits)
    }

    /// [`Masker::mask_text_into`] with the literal hits of `text` already known
    /// ([`PayloadScan::unescaped_hits`]), or `None` to search for them.
    pub fn mask_text_with_hits(
        &self,
        text: &str,
        out: &mut String,
        counts: &mut MaskCounts,
        hits: Option<Hits<'_>>,
    ) -> bool {
        if !self.enabled {
            return false;
        }
        // The span and hit lists are kept per thread: this runs for every line and JSON
        // string that holds a literal.
        SCRATCH.with(|scratch| match scratch.try_borrow_mut() {
            Ok(mut scratch) => {
                scratch.spans.clear();
                scratch.key_hits.clear();
                self.mask_text_with(text, out, counts, &mut scratch, hits)
            }
            Err(_) => self.mask_text_with(text, out, counts, &mut TextScratch::new(), hits),
        })
    }

    /// Appends the masked `text` to `out` and returns true when anything was masked;
    /// otherwise appends nothing and returns false.
    pub fn mask_text_into(&self, text: &str, out: &mut String, counts: &mut MaskCounts) -> bool {
        self.mask_text_with_hits(text, out, counts, None)
    }

    fn mask_text_with(
        &self,
        text: &str,
        out: &mut String,
        counts: &mut MaskCounts,
        scratch: &mut TextScratch,
        hits: Option<Hits<'_>>,
    ) -> bool {
        let TextScratch {
            spans,
            key_hits,
            keys,
        } = scratch;
        let run = match hits {
            Some(hits) => self.run_from_hits(hits, key_hits),
            None => self.scan(text, key_hits),
        };
        let mut weak = Vec::new();
        if !key_hits.is_empty() {
            let classify = |key: &str| keys.classify(self, key);
            text::key_value_spans(text, classify, key_hits, spans, &mut weak);
        }
        for (i, d) in self.detectors.iter().enumerate() {
            if run & (1 << i) == 0 {
                continue;
            }
            if let Some(finder) = d.finder {
                let mut found = Vec::new();
                finder(text, &mut found);
                spans.extend(found.into_iter().map(|(start, end)| Span {
                    start,
                    end,
                    name: d.name,
                    wrap: Wrap::None,
                }));
                continue;
            }
            let mut push = |m: regex::Match<'_>| {
                let keep = !m.is_empty()
                    && marker_len(&text[m.start()..]).is_none()
                    && d.validate.is_none_or(|v| v(m.as_str()));
                if keep {
                    spans.push(Span {
                        start: m.start(),
                        end: m.end(),
                        name: d.name,
                        wrap: Wrap::None,
                    });
                }
            };
            if d.whole {
                d.regex.find_iter(text).for_each(&mut push);
            } else {
                d.regex
                    .captures_iter(text)
                    // The first group that took part (a pattern may have alternatives, each
                    // with its own group), else the whole match.
                    .filter_map(|caps| caps.iter().skip(1).flatten().next().or_else(|| caps.get(0)))
                    .for_each(&mut push);
            }
        }
        if hits.is_none_or(|h| h.cards) {
            let mut cards = Vec::new();
            card::find_likely(text, &mut cards);
            // A number right after a marker was read with what the marker replaced (`0 4111…`
            // is not a card); read alone now, a second pass would mask what the first left.
            cards.retain(|&(start, _)| {
                let before = text.as_bytes()[..start]
                    .strip_suffix(b" ")
                    .or_else(|| text.as_bytes()[..start].strip_suffix(b"-"))
                    .unwrap_or(&text.as_bytes()[..start]);
                !text::ends_with_marker(before)
            });
            spans.extend(cards.into_iter().map(|(start, end)| Span {
                start,
                end,
                name: "card_number",
                wrap: Wrap::None,
            }));
        }
        // A value read without a separator only counts where no other rule found something.
        for w in weak {
            if !spans.iter().any(|s| s.start < w.end && w.start < s.end) {
                spans.push(w);
            }
        }
        if MARKER_START.find(text.as_bytes()).is_some() {
            // Never mask inside an existing marker: masking stays idempotent.
            let markers = marker_ranges(text);
            spans.retain(|s| !markers.iter().any(|&(ms, me)| s.start < me && ms < s.end));
        }
        if spans.is_empty() {
            return false;
        }
        self.render(text, spans, out, counts);
        true
    }

    /// Writes `text` with `spans` replaced; overlapping spans merge into the earliest.
    fn render(&self, text: &str, spans: &mut [Span], out: &mut String, counts: &mut MaskCounts) {
        spans.sort_by(|a, b| a.start.cmp(&b.start).then(b.end.cmp(&a.end)));
        let mut copied = 0;
        let mut current: Option<Span> = None;
        for &span in spans.iter() {
            match current.as_mut() {
                Some(c) if span.start < c.end => c.end = c.end.max(span.end),
                _ => {
                    if let Some(c) = current.take() {
                        out.push_str(&text[copied..c.start]);
                        self.push_span(out, text, c, counts);
                        copied = c.end;
                    }
                    current = Some(span);
                }
            }
        }
        if let Some(c) = current {
            out.push_str(&text[copied..c.start]);
            self.push_span(out, text, c, counts);
            copied = c.end;
        }
        out.push_str(&text[copied..]);
    }

    fn push_span(&self, out: &mut String, text: &str, span: Span, counts: &mut MaskCounts) {
        let secret = &text[span.start..span.end];
        match span.wrap {
            Wrap::None => self.push_marker(out, span.name, secret, false, counts),
            Wrap::Quote => self.push_marker(out, span.name, secret, true, counts),
            Wrap::EscapedQuote => {
                out.push_str("\\\"");
                self.push_marker(out, span.name, secret, false, counts);
                out.push_str("\\\"");
            }
        }
    }

    /// Appends the replacement for `secret` found by `name` (as a JSON string when `quoted`).
    pub(crate) fn push_marker(
        &self,
        out: &mut String,
        name: &'static str,
        secret: &str,
        quoted: bool,
        counts: &mut MaskCounts,
    ) {
        counts.add(name);
        if quoted {
            out.push('"');
        }
        out.push_str("[MASKED:");
        out.push_str(name);
        if let MaskMode::Hash(key) = &self.mode {
            if let Ok(mut mac) = <Hmac<Sha256> as KeyInit>::new_from_slice(key) {
                mac.update(secret.as_bytes());
                let digest = mac.finalize().into_bytes();
                out.push(':');
                out.push_str(&hex::encode(&digest[..8]));
            }
        }
        out.push(']');
        if quoted {
            out.push('"');
        }
    }

    /// Whether a JSON number token is a card number.
    pub(crate) fn is_card_number(&self, token: &str) -> bool {
        let digits: Vec<u8> = token.bytes().map(|b| b.wrapping_sub(b'0')).collect();
        digits.iter().all(|&d| d < 10) && card::is_card(&digits)
    }
}

/// Whether an `@` follows the `://` at `at` inside the URL's authority (before any whitespace,
/// `/`, `?` or `#`, and within the 513 bytes `user:password` may take): a URL without one holds
/// no password for the `url_password` detector to find.
fn authority_has_at(text: &str, at: usize) -> bool {
    let authority = text.as_bytes().get(at + 3..).unwrap_or_default();
    authority
        .iter()
        .take(514)
        .take_while(|b| {
            !matches!(
                b,
                b' ' | b'\t' | b'\n' | b'\r' | 0x0b | 0x0c | b'/' | b'?' | b'#'
            )
        })
        .any(|&b| b == b'@')
}

/// Whether the span a detector masks (capture group 1, else the whole match) is always the
/// whole match: the pattern has no group, or its first group spans all of it but for
/// zero-width `(?-u:\b)` boundaries at either end.
fn masks_whole_match(regex: &Regex) -> bool {
    const BOUNDARY: &str = "(?-u:\\b)";
    if regex.captures_len() == 1 {
        return true;
    }
    let pattern = regex.as_str();
    let inner = pattern.strip_prefix(BOUNDARY).unwrap_or(pattern);
    let inner = inner.strip_suffix(BOUNDARY).unwrap_or(inner);
    if !inner.starts_with('(') || inner.starts_with("(?") {
        return false;
    }
    // Where the group opened at 0 closes: escapes and character classes hold no group
    // parentheses.
    let bytes = inner.as_bytes();
    let (mut depth, mut i, mut in_class) = (0usize, 0, false);
    while i < bytes.len() {
        match bytes[i] {
            b'\\' => i += 1,
            b'[' if !in_class => in_class = true,
            b']' if in_class => in_class = false,
            b'(' if !in_class => depth += 1,
            b')' if !in_class => {
                depth -= 1;
                if depth == 0 {
                    return i == bytes.len() - 1;
                }
            }
            _ => {}
        }
        i += 1;
    }
    false
}

/// The working buffers of [`Masker::mask_text_with`], kept per thread: it runs for every line
/// and JSON string that holds a literal.
struct TextScratch {
    spans: Vec<Span>,
    key_hits: Vec<usize>,
    /// Keys around stem hits repeat from line to line (`auth` in every `authorized`).
    keys: KeyMemo,
}

impl TextScratch {
    const fn new() -> Self {
        Self {
            spans: Vec::new(),
            key_hits: Vec::new(),
            keys: KeyMemo::new(),
        }
    }
}

/// Where a marker starts: text holding one is masked around it.
static MARKER_START: std::sync::LazyLock<memmem::Finder<'static>> =
    std::sync::LazyLock::new(|| memmem::Finder::new("[MASKED:"));

thread_local! {
    static SCRATCH: std::cell::RefCell<TextScratch> = const {
        std::cell::RefCell::new(TextScratch::new())
    };
}

/// The words of a `MASK_KEYS` key the stem searcher looks for, lower-cased: split at
/// separators and camelCase humps (`memberNo` → `member`, `no`), the words of 3 bytes or more
/// — shorter ones would make the searcher compare 2-byte fingerprints for every stem — unless
/// the key has none (`pw`, `x_id`): then its 2-byte words, slower but the key is found.
fn extra_key_stems(key: &str) -> Vec<String> {
    let mut words: Vec<String> = Vec::new();
    let mut word = String::new();
    let mut previous_lower = false;
    for c in key.chars() {
        let hump = c.is_ascii_uppercase() && previous_lower;
        if (!c.is_ascii_alphanumeric() || hump) && !word.is_empty() {
            words.push(std::mem::take(&mut word));
        }
        if c.is_ascii_alphanumeric() {
            word.push(c.to_ascii_lowercase());
        }
        previous_lower = c.is_ascii_lowercase() || c.is_ascii_digit();
    }
    if !word.is_empty() {
        words.push(word);
    }
    let min = if words.iter().any(|w| w.len() >= 3) {
        3
    } else {
        2
    };
    words.retain(|w| w.len() >= min);
    words
}

/// Byte ranges of `[MASKED:…]` markers in `text`.
fn marker_ranges(text: &str) -> Vec<(usize, usize)> {
    let mut ranges = Vec::new();
    let mut from = 0;
    while let Some(i) = text[from..].find("[MASKED:") {
        let start = from + i;
        match marker_len(&text[start..]) {
            Some(len) => {
                ranges.push((start, start + len));
                from = start + len;
            }
            None => from = start + 1,
        }
    }
    ranges
}

/// How every marker starts.
pub(crate) const MARKER_PREFIX: &str = "[MASKED:";

/// Length of the well-formed marker `text` starts with: `[MASKED:<name>]` or
/// `[MASKED:<name>:<16 hex digits>]`. Anything else (a stray `[MASKED:`) is ordinary text.
pub fn marker_len(text: &str) -> Option<usize> {
    let rest = text.strip_prefix(MARKER_PREFIX)?;
    let name_len = rest
        .bytes()
        .take_while(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || *b == b'_')
        .count();
    if name_len == 0 {
        return None;
    }
    let after = &rest[name_len..];
    let tail = if let Some(hash) = after.strip_prefix(':') {
        let hex = hash.bytes().take(16).filter(u8::is_ascii_hexdigit).count();
        if hex != 16 || hash.as_bytes().get(16) != Some(&b']') {
            return None;
        }
        18
    } else if after.starts_with(']') {
        1
    } else {
        return None;
    };
    Some("[MASKED:".len() + name_len + tail)
}

/// Whether `text` holds a card number ([`card::may_contain`] first: it rejects almost every
/// line without the exact scan).
fn has_card_candidate(text: &str) -> bool {
    let mut found = Vec::new();
    card::find_likely(text, &mut found);
    !found.is_empty()
}

/// A deterministic pseudo-random sequence (xorshift64) for the tests that generate texts.
#[cfg(test)]
pub(crate) fn xorshift(mut state: u64) -> impl FnMut() -> u64 {
    move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    }
}

#[cfg(test)]
mod tests;

//! Output: destinations and the delivery machinery they share.
//!
//! A destination only knows its wire format: how to frame one document in a request body
//! ([`Destination::write_item_header`]) and how to turn one HTTP exchange into verdicts
//! ([`Destination::send`]). Everything about *delivery* — bounded request size
//! ([`ChunkBuilder`]), retries with backoff, splitting on 413, isolating bad documents, and
//! stopping before the Lambda deadline — lives in [`retry::deliver`] and is the same for every
//! destination.

pub mod auth;
pub mod elasticsearch;
pub mod http;
pub mod index;
pub mod logzio;
pub mod retry;

use std::future::Future;
use std::time::Duration;

use bytes::Bytes;

/// Why a destination refused a document for good.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejection {
    /// HTTP status of the item (or of the request when the destination gives no per-item one).
    pub status: u16,
    /// The destination's error type, e.g. `mapper_parsing_exception`.
    pub error_type: String,
    /// The destination's explanation.
    pub reason: String,
    /// The index the document was meant for, when the destination reports it.
    pub index: Option<String>,
}

/// The fate of one document in one response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ItemVerdict {
    Delivered,
    /// The document exists already (a replayed batch): as good as delivered.
    AlreadyPresent,
    /// Temporarily refused (429, 5xx): send again later.
    Retry(String),
    /// Refused for good: dead-letter it.
    Rejected(Rejection),
}

/// The fate of a whole request, when the destination answers for all documents at once.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RequestVerdict {
    /// Every document was accepted.
    Delivered,
    /// Timeout, connection error, 429, 5xx: send the same documents again later.
    Retry(String),
    /// 413: the request is too large; send each half on its own.
    TooLarge,
    /// The request was refused because of some document in it, without saying which: split to
    /// isolate it. A single document refused this way is rejected with this reason.
    Isolate(Rejection),
    /// The destination refuses everything (bad credentials, missing endpoint): not the data's
    /// fault, so nothing is dead-lettered; the records go back to Lambda.
    Outage(String),
}

/// What a destination made of one request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Response {
    /// One verdict per document, in request order.
    Items(Vec<ItemVerdict>),
    Request(RequestVerdict),
}

/// A place documents are delivered to.
pub trait Destination: Send + Sync + 'static {
    /// Short name for logs and dead letters, e.g. `elasticsearch`.
    fn name(&self) -> &'static str;

    /// Writes the framing that precedes a document (the `_bulk` action line, …).
    /// `event_ms` is the event time; `id` is the document id as a JSON string literal.
    fn write_item_header(&self, out: &mut Vec<u8>, event_ms: i64, id: &[u8]);

    /// The largest document the destination takes; larger ones are truncated to fit
    /// ([`crate::truncate`]). `None`: no limit of its own
    /// (the request size limit still applies).
    fn max_document_bytes(&self) -> Option<usize> {
        None
    }

    /// Sends one request body holding `items` documents, giving up after `timeout`.
    fn send(
        &self,
        body: Bytes,
        items: usize,
        timeout: Duration,
    ) -> impl Future<Output = Response> + Send;
}

/// Where one document sits in a [`Chunk`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ItemSpan {
    /// Index of the Kinesis record the document came from.
    pub record: u32,
    /// Byte range of the framed item (header + document + newline) in the body.
    pub start: u32,
    pub end: u32,
    /// Where the document itself starts (after the header).
    pub doc_start: u32,
    /// Byte range of the event id text in [`Chunk::ids`].
    pub id_start: u32,
    pub id_end: u32,
}

/// A request body of framed documents, no larger than the destination's limit (unless a single
/// document is larger on its own).
#[derive(Debug, Clone)]
pub struct Chunk {
    pub body: Bytes,
    pub items: Vec<ItemSpan>,
    /// Event ids of the items, concatenated (for dead letters).
    pub ids: String,
}

impl Chunk {
    /// The document of item `i`, without framing or trailing newline.
    pub fn document(&self, i: usize) -> &[u8] {
        let s = &self.items[i];
        let doc = &self.body[s.doc_start as usize..s.end as usize];
        doc.strip_suffix(b"\n").unwrap_or(doc)
    }

    /// The event id of item `i`.
    pub fn id(&self, i: usize) -> &str {
        let s = &self.items[i];
        self.ids
            .get(s.id_start as usize..s.id_end as usize)
            .unwrap_or_default()
    }

    /// A body holding only the given items (for retries and splits).
    pub fn body_for(&self, items: &[u32]) -> Bytes {
        if items.len() == self.items.len() {
            return self.body.clone();
        }
        let len = items
            .iter()
            .map(|&i| (self.items[i as usize].end - self.items[i as usize].start) as usize)
            .sum();
        let mut out = Vec::with_capacity(len);
        for &i in items {
            let s = &self.items[i as usize];
            out.extend_from_slice(&self.body[s.start as usize..s.end as usize]);
        }
        Bytes::from(out)
    }
}

/// Fills request bodies up to a size limit, handing each full one out.
#[derive(Debug)]
pub struct ChunkBuilder {
    max_bytes: usize,
    body: Vec<u8>,
    items: Vec<ItemSpan>,
    ids: String,
    /// Start of the item being written.
    open: Option<(u32, usize, usize, usize)>,
}

impl ChunkBuilder {
    pub fn new(max_bytes: usize) -> Self {
        Self {
            max_bytes,
            body: Vec::new(),
            items: Vec::new(),
            ids: String::new(),
            open: None,
        }
    }

    /// Starts an item for `record`; returns the buffer to write its header into.
    pub fn begin(&mut self, record: u32, id: &str) -> &mut Vec<u8> {
        if self.body.capacity() == 0 {
            self.body.reserve(self.max_bytes.min(8 << 20) + 4096);
        }
        let id_start = self.ids.len();
        self.ids.push_str(id);
        self.open = Some((record, self.body.len(), id_start, 0));
        &mut self.body
    }

    /// Marks the end of the header (the document starts here); returns the buffer for the
    /// document.
    pub fn document(&mut self) -> &mut Vec<u8> {
        if let Some(open) = self.open.as_mut() {
            open.3 = self.body.len();
        }
        &mut self.body
    }

    /// The document written so far for the open item.
    pub fn open_document(&self) -> &[u8] {
        self.open
            .and_then(|(_, _, _, doc_start)| self.body.get(doc_start..))
            .unwrap_or_default()
    }

    /// Replaces the open item's document (with a truncated one).
    pub fn replace_open_document(&mut self, doc: &[u8]) {
        if let Some((_, _, _, doc_start)) = self.open {
            self.body.truncate(doc_start);
            self.body.extend_from_slice(doc);
        }
    }

    /// Abandons the open item (its document could not be written).
    pub fn abandon(&mut self) {
        if let Some((_, start, id_start, _)) = self.open.take() {
            self.body.truncate(start);
            self.ids.truncate(id_start);
        }
    }

    /// Completes the open item. Returns a full chunk when this item did not fit in the current
    /// one (the item then starts the next chunk).
    pub fn finish(&mut self) -> Option<Chunk> {
        let (record, start, id_start, doc_start) = self.open.take()?;
        self.body.push(b'\n');
        let mut sealed = None;
        if self.body.len() > self.max_bytes && !self.items.is_empty() {
            // The item overflows: everything before it is a full chunk.
            let mut next = Vec::with_capacity(self.max_bytes.min(8 << 20) + 4096);
            next.extend_from_slice(&self.body[start..]);
            self.body.truncate(start);
            let next_ids = self.ids[id_start..].to_owned();
            self.ids.truncate(id_start);
            sealed = Some(Chunk {
                body: Bytes::from(std::mem::replace(&mut self.body, next)),
                items: std::mem::take(&mut self.items),
                ids: std::mem::replace(&mut self.ids, next_ids),
            });
            let shift = start;
            self.push_span(record, 0, doc_start - shift, 0);
        } else {
            self.push_span(record, start, doc_start, id_start);
        }
        if sealed.is_none() && self.body.len() >= self.max_bytes {
            return self.take();
        }
        sealed
    }

    fn push_span(&mut self, record: u32, start: usize, doc_start: usize, id_start: usize) {
        self.items.push(ItemSpan {
            record,
            start: start as u32,
            end: self.body.len() as u32,
            doc_start: doc_start as u32,
            id_start: id_start as u32,
            id_end: self.ids.len() as u32,
        });
    }

    /// The chunk built so far, if it holds anything.
    pub fn take(&mut self) -> Option<Chunk> {
        if self.items.is_empty() {
            return None;
        }
        Some(Chunk {
            body: Bytes::from(std::mem::take(&mut self.body)),
            items: std::mem::take(&mut self.items),
            ids: std::mem::take(&mut self.ids),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn add(b: &mut ChunkBuilder, record: u32, id: &str, doc: &str) -> Option<Chunk> {
        b.begin(record, id).extend_from_slice(b"H:");
        b.document().extend_from_slice(doc.as_bytes());
        b.finish()
    }

    #[test]
    fn chunks_never_exceed_the_limit_unless_one_item_does() {
        let mut b = ChunkBuilder::new(20);
        let mut chunks = Vec::new();
        for (i, doc) in [
            "aaaa",
            "bbbb",
            "cccc",
            "a-document-larger-than-the-limit",
            "dd",
        ]
        .iter()
        .enumerate()
        {
            chunks.extend(add(&mut b, i as u32, &i.to_string(), doc));
        }
        chunks.extend(b.take());
        let bodies: Vec<_> = chunks
            .iter()
            .map(|c| String::from_utf8_lossy(&c.body).into_owned())
            .collect();
        assert_eq!(
            bodies,
            [
                "H:aaaa\nH:bbbb\n",
                "H:cccc\n",
                "H:a-document-larger-than-the-limit\n",
                "H:dd\n"
            ]
        );
        let c = &chunks[0];
        assert_eq!(c.document(1), b"bbbb");
        assert_eq!(c.id(1), "1");
        assert_eq!(chunks[1].id(0), "2");
        assert_eq!(chunks[1].items[0].record, 2);
        assert_eq!(chunks[2].document(0), b"a-document-larger-than-the-limit");
        assert_eq!(chunks[3].id(0), "4");
        assert_eq!(&chunks[0].body_for(&[1])[..], b"H:bbbb\n");
    }

    #[test]
    fn abandoned_items_leave_no_trace() {
        let mut b = ChunkBuilder::new(1000);
        add(&mut b, 0, "a", "one");
        b.begin(1, "b").extend_from_slice(b"H:");
        b.document().extend_from_slice(b"half");
        b.abandon();
        add(&mut b, 2, "c", "two");
        b.begin(3, "d").extend_from_slice(b"H:");
        b.document().extend_from_slice(b"a long document");
        assert_eq!(b.open_document(), b"a long document");
        b.replace_open_document(b"short");
        b.finish();
        let c = b.take().unwrap();
        assert_eq!(&c.body[..], b"H:one\nH:two\nH:short\n");
        assert_eq!(c.ids, "acd");
        assert_eq!(c.document(2), b"short");
        assert_eq!(c.id(1), "c");
    }
}

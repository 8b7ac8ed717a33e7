//! Records → documents in request bodies, plus dead letters for what cannot be encoded.
//!
//! This is the whole CPU-bound part of an invocation and it does no I/O: the caller decides
//! what happens to each full request body (the handler spawns a delivery; the benchmarks drop
//! it). The decoding and document-writing buffers live in the [`Encoder`] and are reused from
//! invocation to invocation; request bodies are allocated per chunk because each one is handed
//! to its own delivery task.

use std::sync::Arc;

use crate::config::Config;
use crate::dlq::{Letter, Payload, Stage};
use crate::document::{push_id, unescape_json_string, DocumentWriter, RecordContext};
use crate::handler::Summary;
use crate::input::cloudwatch::MessageType;
use crate::input::{DecodeError, Decoder, KinesisEvent};
use crate::mask::{MaskCounts, Masker};
use crate::output::{Chunk, ChunkBuilder, Destination};
use crate::time;
use crate::truncate::truncate;

/// A rendered dead letter and the batch index of the record it belongs to.
#[derive(Debug, Clone)]
pub struct PendingLetter {
    pub record: u32,
    pub body: String,
}

/// Reusable decoding and document-writing state.
pub struct Encoder {
    decoder: Decoder,
    writer: DocumentWriter,
    context: RecordContext,
    id: Vec<u8>,
    /// A truncated document, when one is too large for the destination.
    truncated: Vec<u8>,
    json_field: Option<String>,
    max_request_bytes: usize,
    max_letter_bytes: usize,
}

impl Encoder {
    pub fn new(config: &Config, max_letter_bytes: usize, masker: Arc<Masker>) -> Self {
        Self {
            decoder: Decoder::new(config.max_record_bytes),
            writer: DocumentWriter::new(config.json_field.as_deref(), masker),
            context: RecordContext::default(),
            id: Vec::with_capacity(64),
            truncated: Vec::new(),
            json_field: config.json_field.clone(),
            max_request_bytes: config.output.max_request_bytes,
            max_letter_bytes,
        }
    }

    /// Encodes every record of `event` for `destination`. Full request bodies go to `on_chunk`
    /// as soon as they are full (the last one at the end); dead letters go to `letters`.
    pub fn encode<D: Destination>(
        &mut self,
        event: &KinesisEvent,
        destination: &D,
        summary: &mut Summary,
        letters: &mut Vec<PendingLetter>,
        mut on_chunk: impl FnMut(Chunk),
    ) {
        let mut chunks = ChunkBuilder::new(self.max_request_bytes);
        self.writer.set_ingested(time::now_millis());

        for (index, record) in event.records.iter().enumerate() {
            let index = index as u32;
            let source = record.source();
            let payload = match self.decoder.decode(&record.kinesis.data) {
                Ok(payload) => payload,
                Err(error) => {
                    summary.poison_records += 1;
                    // Whatever is readable text is masked; only bytes that are not text (bad
                    // gzip, binary) travel as they came.
                    let readable = match &error {
                        DecodeError::Base64(_) => Some(record.kinesis.data.as_bytes()),
                        DecodeError::CloudWatch(_) => self.decoder.inflated(),
                        _ => Some(self.decoder.raw()),
                    }
                    .and_then(|b| std::str::from_utf8(b).ok());
                    let masked_text = readable.map(|t| self.writer.mask_text(t));
                    let payload = match &masked_text {
                        Some(text) => Payload::Text(text),
                        None => Payload::Raw(self.decoder.raw()),
                    };
                    tracing::warn!(sequence_number = source.sequence_number, kind = error.kind(), %error, "poison record");
                    let letter = Letter {
                        stage: Stage::Decode,
                        reason: &error.to_string(),
                        error_type: error.kind(),
                        status: None,
                        destination: None,
                        index: None,
                        event_id: None,
                        source: &source,
                        payload,
                    };
                    letters.push(PendingLetter {
                        record: index,
                        body: letter.render(self.max_letter_bytes, time::now_millis()),
                    });
                    continue;
                }
            };
            if payload.message_type == MessageType::Control {
                summary.control_messages += 1;
                continue;
            }
            self.context.set(&source, &payload);
            for log_event in &payload.log_events {
                summary.events += 1;
                self.id.clear();
                push_id(&mut self.id, log_event);
                let header = chunks.begin(index, log_event.id_text());
                destination.write_item_header(header, log_event.timestamp, &self.id);
                let written = self
                    .writer
                    .write(chunks.document(), &self.context, log_event);
                if let Err(error) = written {
                    chunks.abandon();
                    let mut message = String::new();
                    let text = if unescape_json_string(
                        log_event.message.get().trim_matches('"'),
                        &mut message,
                    ) {
                        message.as_str()
                    } else {
                        log_event.message.get()
                    };
                    let masked = self.writer.mask_text(text);
                    let letter = Letter {
                        stage: Stage::Document,
                        reason: &error.to_string(),
                        error_type: "invalid_event",
                        status: None,
                        destination: None,
                        index: None,
                        event_id: Some(log_event.id_text()),
                        source: &source,
                        payload: Payload::Text(&masked),
                    };
                    letters.push(PendingLetter {
                        record: index,
                        body: letter.render(self.max_letter_bytes, time::now_millis()),
                    });
                    continue;
                }
                if let Some(max) = destination.max_document_bytes() {
                    if chunks.open_document().len() > max {
                        self.truncated.clear();
                        let doc = chunks.open_document();
                        match truncate(doc, max, self.json_field.as_deref(), &mut self.truncated) {
                            Ok(()) => {
                                summary.truncated += 1;
                                chunks.replace_open_document(&self.truncated);
                            }
                            Err(error) => {
                                self.truncated.clear();
                                self.truncated.extend_from_slice(doc);
                                chunks.abandon();
                                let letter = Letter {
                                    stage: Stage::Document,
                                    reason: &error.to_string(),
                                    error_type: "document_too_large",
                                    status: None,
                                    destination: Some(destination.name()),
                                    index: None,
                                    event_id: Some(log_event.id_text()),
                                    source: &source,
                                    payload: Payload::Document(&self.truncated),
                                };
                                letters.push(PendingLetter {
                                    record: index,
                                    body: letter.render(self.max_letter_bytes, time::now_millis()),
                                });
                                continue;
                            }
                        }
                    }
                }
                if let Some(chunk) = chunks.finish() {
                    on_chunk(chunk);
                }
            }
        }
        if let Some(chunk) = chunks.take() {
            on_chunk(chunk);
        }
    }

    /// What was masked since the last call, per detector.
    pub fn take_mask_counts(&mut self) -> MaskCounts {
        self.writer.take_counts()
    }
}

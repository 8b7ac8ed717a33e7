//! Records → documents in request bodies, plus dead letters for what cannot be encoded.
//!
//! This is the whole CPU-bound part of an invocation and it does no I/O: the caller decides
//! what happens to each full request body (the handler spawns a delivery; the benchmarks drop
//! it). The decoding and document-writing buffers live in the [`Encoder`] and are reused from
//! invocation to invocation; request bodies are allocated per chunk because each one is handed
//! to its own delivery task.

use std::sync::Arc;

use crate::config::{Config, RecordFormat};
use crate::dlq::{Letter, Payload, Stage};
use crate::document::{
    push_id, unescape_json_string, DocumentWriter, LineKind, LineParsers, RecordContext,
};
use crate::handler::Summary;
use crate::ids::RecordIds;
use crate::input::cloudfront::CloudFrontFormat;
use crate::input::cloudwatch::MessageType;
use crate::input::{DecodeError, Decoder, KinesisEvent, RecordSource, Unit};
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
    line_parsers: LineParsers,
    /// The event id as a JSON string literal, and as text.
    id: Vec<u8>,
    id_text: String,
    /// The document of a line of text, written before its item header (whose index needs the
    /// event time read from the line).
    line_doc: Vec<u8>,
    truncation: Truncation,
    max_request_bytes: usize,
    max_letter_bytes: usize,
    now_ms: i64,
}

/// Shortening documents the destination cannot take whole.
struct Truncation {
    buffer: Vec<u8>,
    json_field: Option<String>,
    max_letter_bytes: usize,
}

impl Encoder {
    pub fn new(config: &Config, max_letter_bytes: usize, masker: Arc<Masker>) -> Self {
        Self {
            decoder: Decoder::new(config.max_record_bytes)
                .force_cloudwatch(config.record_format == RecordFormat::CloudWatch),
            writer: DocumentWriter::new(config.json_field.as_deref(), masker),
            context: RecordContext::default(),
            line_parsers: LineParsers::new(cloudfront_format(config), forced_line_kind(config)),
            id: Vec::with_capacity(64),
            id_text: String::with_capacity(32),
            line_doc: Vec::new(),
            truncation: Truncation {
                buffer: Vec::new(),
                json_field: config.json_field.clone(),
                max_letter_bytes,
            },
            max_request_bytes: config.output.max_request_bytes,
            max_letter_bytes,
            now_ms: time::now_millis(),
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
        self.now_ms = time::now_millis();
        self.writer.set_ingested(self.now_ms);

        for (index, record) in event.records.iter().enumerate() {
            let index = index as u32;
            let source = record.source();
            let units = match self.decoder.open(&record.kinesis.data) {
                Ok(units) => units,
                Err(error) => {
                    let readable = match &error {
                        DecodeError::Base64(_) => Some(record.kinesis.data.as_bytes()),
                        _ => Some(self.decoder.raw()),
                    };
                    let letter = poison_letter(
                        &mut self.writer,
                        self.max_letter_bytes,
                        &error,
                        &source,
                        readable,
                        self.decoder.raw(),
                    );
                    summary.poison_records += 1;
                    letters.push(PendingLetter {
                        record: index,
                        body: letter,
                    });
                    continue;
                }
            };
            for unit in 0..units {
                let source = RecordSource {
                    sub_sequence_number: self.decoder.sub_sequence(unit),
                    ..source
                };
                let decoded = match self.decoder.unit(unit) {
                    Ok(decoded) => decoded,
                    Err(error) => {
                        // Whatever is readable text is masked; only bytes that are not text
                        // (bad gzip, binary) travel as they came.
                        let readable = match &error {
                            DecodeError::CloudWatch(_) => self.decoder.inflated(),
                            _ => Some(self.decoder.unit_raw(unit)),
                        };
                        let letter = poison_letter(
                            &mut self.writer,
                            self.max_letter_bytes,
                            &error,
                            &source,
                            readable,
                            self.decoder.unit_raw(unit),
                        );
                        summary.poison_records += 1;
                        letters.push(PendingLetter {
                            record: index,
                            body: letter,
                        });
                        continue;
                    }
                };
                let text = match decoded {
                    Unit::CloudWatch(payload) => {
                        if payload.message_type == MessageType::Control {
                            summary.control_messages += 1;
                            continue;
                        }
                        self.context.set(&source, &payload);
                        self.writer.begin_payload(&payload);
                        for log_event in &payload.log_events {
                            summary.events += 1;
                            self.id.clear();
                            push_id(&mut self.id, log_event);
                            let header = chunks.begin(index, log_event.id_text());
                            destination.write_item_header(header, log_event.timestamp, &self.id);
                            let written =
                                self.writer
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
                            if let Some(chunk) = self.truncation.finish_item(
                                &mut chunks,
                                destination,
                                summary,
                                letters,
                                (index, &source, log_event.id_text()),
                            ) {
                                on_chunk(chunk);
                            }
                        }
                        continue;
                    }
                    Unit::Text(text) => text,
                };
                // Producer text: one document per non-blank line.
                self.context.set_for_text(&source);
                let ids = RecordIds::new(
                    source.stream_arn,
                    source.shard_id,
                    source.sequence_number,
                    source.sub_sequence_number,
                );
                let default_ms = source.approximate_arrival_ms.unwrap_or(self.now_ms);
                for (line_index, line) in split_lines(text) {
                    let line = String::from_utf8_lossy(line);
                    if line.trim().is_empty() {
                        continue;
                    }
                    summary.events += 1;
                    self.id_text.clear();
                    ids.push_line_id(line_index, &mut self.id_text);
                    self.id.clear();
                    self.id.push(b'"');
                    self.id.extend_from_slice(self.id_text.as_bytes());
                    self.id.push(b'"');
                    self.line_doc.clear();
                    let (event_ms, _kind) = self.writer.write_line(
                        &mut self.line_doc,
                        &self.context,
                        &self.id,
                        &line,
                        default_ms,
                        &mut self.line_parsers,
                    );
                    let header = chunks.begin(index, &self.id_text);
                    destination.write_item_header(header, event_ms, &self.id);
                    chunks.document().extend_from_slice(&self.line_doc);
                    if let Some(chunk) = self.truncation.finish_item(
                        &mut chunks,
                        destination,
                        summary,
                        letters,
                        (index, &source, &self.id_text),
                    ) {
                        on_chunk(chunk);
                    }
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

impl Truncation {
    /// Completes the open item, first truncating its document when it is over the
    /// destination's limit (or dead-lettering it when even that cannot fit). Returns a full
    /// chunk when one is sealed.
    fn finish_item<D: Destination>(
        &mut self,
        chunks: &mut ChunkBuilder,
        destination: &D,
        summary: &mut Summary,
        letters: &mut Vec<PendingLetter>,
        (record, source, event_id): (u32, &RecordSource<'_>, &str),
    ) -> Option<Chunk> {
        if let Some(max) = destination.max_document_bytes() {
            if chunks.open_document().len() > max {
                self.buffer.clear();
                let doc = chunks.open_document();
                match truncate(doc, max, self.json_field.as_deref(), &mut self.buffer) {
                    Ok(()) => {
                        summary.truncated += 1;
                        chunks.replace_open_document(&self.buffer);
                    }
                    Err(error) => {
                        self.buffer.clear();
                        self.buffer.extend_from_slice(doc);
                        chunks.abandon();
                        let letter = Letter {
                            stage: Stage::Document,
                            reason: &error.to_string(),
                            error_type: "document_too_large",
                            status: None,
                            destination: Some(destination.name()),
                            index: None,
                            event_id: Some(event_id),
                            source,
                            payload: Payload::Document(&self.buffer),
                        };
                        letters.push(PendingLetter {
                            record,
                            body: letter.render(self.max_letter_bytes, time::now_millis()),
                        });
                        return None;
                    }
                }
            }
        }
        chunks.finish()
    }
}

/// The dead letter of a record (or user record) that cannot be decoded: its readable text,
/// masked, or else its bytes as they came.
fn poison_letter(
    writer: &mut DocumentWriter,
    max_letter_bytes: usize,
    error: &DecodeError,
    source: &RecordSource<'_>,
    readable: Option<&[u8]>,
    raw: &[u8],
) -> String {
    let masked_text = readable
        .and_then(|b| std::str::from_utf8(b).ok())
        .map(|t| writer.mask_text(t));
    let payload = match &masked_text {
        Some(text) => Payload::Text(text),
        None => Payload::Raw(raw),
    };
    tracing::warn!(
        sequence_number = source.sequence_number,
        sub_sequence_number = source.sub_sequence_number,
        kind = error.kind(),
        %error,
        "poison record"
    );
    Letter {
        stage: Stage::Decode,
        reason: &error.to_string(),
        error_type: error.kind(),
        status: None,
        destination: None,
        index: None,
        event_id: None,
        source,
        payload,
    }
    .render(max_letter_bytes, time::now_millis())
}

/// Lines of `text` with their index (every line counts, blank ones too, so an id never
/// depends on what the forwarder skips). A final newline does not start another line.
fn split_lines(text: &[u8]) -> impl Iterator<Item = (u32, &[u8])> {
    let text = text.strip_suffix(b"\n").unwrap_or(text);
    text.split(|&b| b == b'\n')
        .enumerate()
        .map(|(i, line)| (i as u32, line.strip_suffix(b"\r").unwrap_or(line)))
}

/// The CloudFront real-time log format of `CLOUDFRONT_FIELDS` (validated with the
/// configuration), in AWS's order: CloudFront writes the fields in its documented order,
/// whatever order the configuration lists them in.
fn cloudfront_format(config: &Config) -> CloudFrontFormat {
    if config.cloudfront_fields.is_empty() {
        return CloudFrontFormat::aws_default();
    }
    let names: Vec<&str> = config
        .cloudfront_fields
        .iter()
        .map(String::as_str)
        .collect();
    CloudFrontFormat::new_in_aws_order(&names).unwrap_or_else(|_| CloudFrontFormat::aws_default())
}

fn forced_line_kind(config: &Config) -> Option<LineKind> {
    match config.record_format {
        RecordFormat::Auto | RecordFormat::CloudWatch => None,
        RecordFormat::CloudFront => Some(LineKind::CloudFront),
        RecordFormat::Json => Some(LineKind::Json),
        RecordFormat::Apache => Some(LineKind::Apache),
        RecordFormat::Text => Some(LineKind::Text),
    }
}

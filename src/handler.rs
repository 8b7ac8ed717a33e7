//! One invocation: Kinesis records in, batch item failures out.
//!
//! The invariant: every log event ends in exactly one place — indexed once, dead-lettered with
//! a reason, or handed back to Lambda for retry. How the handler keeps it:
//!
//! 1. **Encode** every record (decode → documents → request bodies). Bodies are handed to
//!    delivery tasks as soon as they are full, so sending overlaps decoding. Records that cannot
//!    be decoded and events that cannot become documents become dead letters.
//! 2. **Deliver** with retries until the deadline minus the safety margin
//!    ([`crate::output::retry`]). Each document ends delivered, already present (a replay),
//!    rejected (→ dead letter) or unsettled.
//! 3. **Hand back.** Lambda retries a Kinesis batch from the *lowest* failed sequence number of
//!    each shard, so once a record is unsettled, every later record of its shard will be
//!    processed again anyway. Those records are all reported as failures, and their dead
//!    letters are *not* sent now (the retry will send them), which keeps dead letters from being
//!    written twice. Indexing twice cannot happen: documents are `create`d with their event id.
//! 4. **Dead-letter** the remaining letters in record order; if the queue cannot be written,
//!    the records from the first unsent letter on are handed back too.
//!
//! A problem with one record never fails the invocation; the invocation never reports success
//! while an event is unsettled.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use aws_lambda_events::event::streams::{KinesisBatchItemFailure, KinesisEventResponse};
use tokio::sync::Semaphore;
use tokio::task::JoinHandle;
use tokio::time::Instant;

use crate::config::Config;
use crate::dlq::{DeadLetterQueue, Letter, Payload, Stage};
use crate::document::{push_id, DocumentWriter, RecordContext};
use crate::input::cloudwatch::MessageType;
use crate::input::{Decoder, KinesisEvent};
use crate::output::retry::{self, DeliveryStats, Outcome};
use crate::output::{Chunk, ChunkBuilder, Destination};
use crate::time;

/// Counts for the invocation summary (logged once per invocation, asserted by tests).
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Summary {
    pub records: usize,
    pub events: usize,
    pub delivered: usize,
    /// Documents the destination already had (a replayed batch).
    pub already_present: usize,
    /// Document sends repeated after transient failures.
    pub retried: usize,
    pub dead_lettered: usize,
    /// Events not settled in this invocation; their records go back to Lambda.
    pub failed_back: usize,
    /// Records reported as batch item failures.
    pub failed_records: usize,
    pub control_messages: usize,
    pub poison_records: usize,
    pub requests: usize,
    pub splits: usize,
    pub encode_ms: u64,
    pub total_ms: u64,
}

/// Buffers reused from invocation to invocation.
struct Scratch {
    decoder: Decoder,
    writer: DocumentWriter,
    context: RecordContext,
    id: Vec<u8>,
}

/// A dead letter waiting to be sent, with the record it belongs to.
struct PendingLetter {
    record: u32,
    body: String,
}

type Delivery = JoinHandle<(Arc<Chunk>, Vec<Outcome>, DeliveryStats)>;

/// The forwarder: configuration, destination and dead-letter queue, built once at cold start.
pub struct Forwarder<D: Destination> {
    config: Arc<Config>,
    destination: Arc<D>,
    dlq: DeadLetterQueue,
    scratch: Mutex<Scratch>,
    in_flight: Arc<Semaphore>,
}

impl<D: Destination> Forwarder<D> {
    pub fn new(config: Config, destination: D, dlq: DeadLetterQueue) -> Self {
        let scratch = Scratch {
            decoder: Decoder::new(config.max_record_bytes),
            writer: DocumentWriter::new(config.json_field.as_deref()),
            context: RecordContext::default(),
            id: Vec::with_capacity(64),
        };
        Self {
            in_flight: Arc::new(Semaphore::new(config.elasticsearch.max_concurrency)),
            config: Arc::new(config),
            destination: Arc::new(destination),
            dlq,
            scratch: Mutex::new(scratch),
        }
    }

    /// Processes one Kinesis event that must be settled by `deadline`.
    pub async fn handle(
        &self,
        event: &KinesisEvent,
        deadline: Instant,
    ) -> (KinesisEventResponse, Summary) {
        let started = Instant::now();
        let records = &event.records;
        let mut summary = Summary {
            records: records.len(),
            ..Summary::default()
        };

        // The margin keeps time to dead-letter and answer; on a short timeout it shrinks so
        // delivery still gets most of the time.
        let budget = deadline.saturating_duration_since(started);
        let margin = self.config.retry.deadline_margin.min(budget / 4);
        let delivery_deadline = deadline - margin;
        let dlq_deadline = deadline - margin / 3;

        let mut letters = Vec::new();
        let deliveries = self.encode(event, delivery_deadline, &mut letters, &mut summary);
        summary.encode_ms = started.elapsed().as_millis() as u64;

        // Unsettled records, by batch index.
        let mut unsettled = vec![false; records.len()];
        let mut unsettled_reason = None;
        for delivery in deliveries {
            let (chunk, outcomes, stats) = match delivery.await {
                Ok(done) => done,
                Err(e) => {
                    // Only a bug can get here; the records are retried rather than lost.
                    tracing::error!(error = %e, "delivery task failed");
                    unsettled.iter_mut().for_each(|u| *u = true);
                    continue;
                }
            };
            summary.requests += stats.requests as usize;
            summary.retried += stats.retried as usize;
            summary.splits += stats.splits as usize;
            for (i, outcome) in outcomes.into_iter().enumerate() {
                let record = chunk.items[i].record;
                match outcome {
                    Outcome::Delivered => summary.delivered += 1,
                    Outcome::AlreadyPresent => summary.already_present += 1,
                    Outcome::Unsettled(reason) => {
                        unsettled[record as usize] = true;
                        summary.failed_back += 1;
                        unsettled_reason.get_or_insert(reason);
                    }
                    Outcome::Rejected(rejection) => {
                        let source = records[record as usize].source();
                        let letter = Letter {
                            stage: Stage::Destination,
                            reason: &rejection.reason,
                            error_type: &rejection.error_type,
                            status: Some(rejection.status),
                            destination: Some(self.destination.name()),
                            index: rejection.index.as_deref(),
                            event_id: Some(chunk.id(i)),
                            source: &source,
                            payload: Payload::Document(chunk.document(i)),
                        };
                        letters.push(PendingLetter {
                            record,
                            body: letter.render(self.dlq.max_bytes(), time::now_millis()),
                        });
                    }
                }
            }
        }
        if let Some(reason) = &unsettled_reason {
            tracing::warn!(%reason, events = summary.failed_back, "events not delivered before the deadline; their records go back to Lambda");
        }

        // Dead letters of records that go back to Lambda anyway are sent by the retry.
        let mut handed_back = hand_back(event, &unsettled);
        letters.sort_by_key(|l| l.record);
        let (send, skip): (Vec<_>, Vec<_>) = letters
            .into_iter()
            .partition(|l| !handed_back[l.record as usize]);
        summary.failed_back += skip.len();
        let bodies: Vec<String> = send.iter().map(|l| l.body.clone()).collect();
        let sent = if bodies.is_empty() {
            0
        } else {
            self.dlq.send(&bodies, dlq_deadline).await
        };
        summary.dead_lettered = sent;
        if sent < send.len() {
            summary.failed_back += send.len() - sent;
            for letter in &send[sent..] {
                unsettled[letter.record as usize] = true;
            }
            handed_back = hand_back(event, &unsettled);
        }

        let mut response = KinesisEventResponse::default();
        for (record, _) in handed_back.iter().enumerate().filter(|(_, h)| **h) {
            let mut failure = KinesisBatchItemFailure::default();
            failure.item_identifier = Some(records[record].kinesis.sequence_number.clone());
            response.batch_item_failures.push(failure);
        }
        summary.failed_records = response.batch_item_failures.len();
        summary.total_ms = started.elapsed().as_millis() as u64;
        (response, summary)
    }

    /// Decodes every record and spawns a delivery task per full request body.
    fn encode(
        &self,
        event: &KinesisEvent,
        deadline: Instant,
        letters: &mut Vec<PendingLetter>,
        summary: &mut Summary,
    ) -> Vec<Delivery> {
        let mut deliveries = Vec::new();
        let mut chunks = ChunkBuilder::new(self.config.elasticsearch.bulk_max_bytes);
        let max_letter = self.dlq.max_bytes();
        let mut guard = self
            .scratch
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let scratch = &mut *guard;
        scratch.writer.set_ingested(time::now_millis());

        for (index, record) in event.records.iter().enumerate() {
            let index = index as u32;
            let source = record.source();
            let payload = match scratch.decoder.decode(&record.kinesis.data) {
                Ok(payload) => payload,
                Err(error) => {
                    summary.poison_records += 1;
                    let raw = match error {
                        crate::input::DecodeError::Base64(_) => record.kinesis.data.as_bytes(),
                        _ => scratch.decoder.raw(),
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
                        payload: Payload::Raw(raw),
                    };
                    letters.push(PendingLetter {
                        record: index,
                        body: letter.render(max_letter, time::now_millis()),
                    });
                    continue;
                }
            };
            if payload.message_type == MessageType::Control {
                summary.control_messages += 1;
                continue;
            }
            scratch.context.set(&source, &payload);
            for log_event in &payload.log_events {
                summary.events += 1;
                scratch.id.clear();
                push_id(&mut scratch.id, log_event);
                let header = chunks.begin(index, log_event.id_text());
                self.destination
                    .write_item_header(header, log_event.timestamp, &scratch.id);
                let written = scratch
                    .writer
                    .write(chunks.document(), &scratch.context, log_event);
                if let Err(error) = written {
                    chunks.abandon();
                    let letter = Letter {
                        stage: Stage::Document,
                        reason: &error.to_string(),
                        error_type: "invalid_event",
                        status: None,
                        destination: None,
                        index: None,
                        event_id: Some(log_event.id_text()),
                        source: &source,
                        payload: Payload::Raw(log_event.message.get().as_bytes()),
                    };
                    letters.push(PendingLetter {
                        record: index,
                        body: letter.render(max_letter, time::now_millis()),
                    });
                    continue;
                }
                if let Some(chunk) = chunks.finish() {
                    deliveries.push(self.spawn_delivery(chunk, deadline));
                }
            }
        }
        if let Some(chunk) = chunks.take() {
            deliveries.push(self.spawn_delivery(chunk, deadline));
        }
        deliveries
    }

    fn spawn_delivery(&self, chunk: Chunk, deadline: Instant) -> Delivery {
        let chunk = Arc::new(chunk);
        let destination = Arc::clone(&self.destination);
        let in_flight = Arc::clone(&self.in_flight);
        let config = Arc::clone(&self.config);
        tokio::spawn(async move {
            // The semaphore is never closed; if it were, sending unthrottled is still correct.
            let _permit = in_flight.acquire().await.ok();
            let (outcomes, stats) = retry::deliver(
                &*destination,
                &chunk,
                &config.retry,
                config.elasticsearch.request_timeout,
                deadline,
            )
            .await;
            (chunk, outcomes, stats)
        })
    }
}

/// Records to report as failures: in each shard, every record from the first unsettled one on
/// (Lambda resumes a shard from its lowest reported sequence number).
fn hand_back(event: &KinesisEvent, unsettled: &[bool]) -> Vec<bool> {
    let mut failing: HashSet<&str> = HashSet::new();
    event
        .records
        .iter()
        .zip(unsettled)
        .map(|(record, &u)| {
            let shard = record.source().shard_id;
            if u {
                failing.insert(shard);
            }
            failing.contains(shard)
        })
        .collect()
}

/// The Lambda deadline (milliseconds since the epoch) as a tokio instant.
pub fn deadline_from_epoch_ms(deadline_ms: u64) -> Instant {
    let left = deadline_ms.saturating_sub(time::now_millis().max(0) as u64);
    Instant::now() + Duration::from_millis(left)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(shards: &[&str]) -> KinesisEvent {
        let records: Vec<String> = shards
            .iter()
            .enumerate()
            .map(|(i, s)| {
                format!(
                    r#"{{"eventID":"{s}:{i}","eventSourceARN":"arn:aws:kinesis:us-east-1:1:stream/s","kinesis":{{"sequenceNumber":"{i}","data":""}}}}"#
                )
            })
            .collect();
        serde_json::from_str(&format!(r#"{{"Records":[{}]}}"#, records.join(","))).unwrap()
    }

    #[test]
    fn hand_back_reports_everything_after_the_first_failure_of_each_shard() {
        let e = event(&["a", "a", "b", "a", "b", "b"]);
        let unsettled = [false, true, false, false, false, true];
        assert_eq!(
            hand_back(&e, &unsettled),
            [false, true, false, true, false, true]
        );
        assert_eq!(hand_back(&e, &[false; 6]), [false; 6]);
    }
}

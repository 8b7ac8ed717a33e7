//! The deterministic workload generator shared by the benchmarks: maximum-size Kinesis events
//! of CloudWatch Logs records (see `benches/pipeline.rs` for the two workloads it builds).

use std::fmt::Write as _;
use std::io::Write as _;

use base64::Engine as _;
use flate2::write::GzEncoder;
use flate2::Compression;
use serde::Serialize;

use log_forwarder::Config;

/// The benchmarks' configuration: defaults, and endpoints that are never contacted (encoding
/// never touches the network).
pub fn config() -> Config {
    Config::from_lookup(|name| match name {
        "ES_ENDPOINT" => Some("http://127.0.0.1:9".to_owned()),
        "DLQ_QUEUE_URL" => Some("http://127.0.0.1:9/q".to_owned()),
        _ => None,
    })
    .expect("benchmark configuration is valid")
}

/// Lambda's invocation payload limit (the "6 MB" of the quotas page is 6 MiB).
const PAYLOAD_LIMIT: usize = 6 * 1024 * 1024;
/// Lambda's largest Kinesis batch.
const MAX_BATCH_RECORDS: usize = 10_000;
/// 2026-11-22T10:00:00Z: every event falls on one day, as in a real batch (one index name).
const BASE_MS: i64 = 1_795_341_600_000;
const SEED: u64 = 0x5eed_1095_f04d_0001;

// ---------------------------------------------------------------------------------------------
// Deterministic randomness

/// xorshift64*: tiny, fast, and good enough to vary log lines; no `rand` dependency needed.
struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Self {
        Self(seed.max(1))
    }

    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    fn range(&mut self, low: u64, high: u64) -> u64 {
        low + self.below(high - low + 1)
    }

    fn percent(&mut self, p: u64) -> bool {
        self.below(100) < p
    }

    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len() as u64) as usize]
    }

    fn hex(&mut self, out: &mut String, digits: usize) {
        for _ in 0..digits {
            out.push(char::from(b"0123456789abcdef"[self.below(16) as usize]));
        }
    }

    fn uuid(&mut self) -> String {
        let mut s = String::with_capacity(36);
        for (i, n) in [8, 4, 4, 4, 12].into_iter().enumerate() {
            if i > 0 {
                s.push('-');
            }
            self.hex(&mut s, n);
        }
        s
    }
}

// ---------------------------------------------------------------------------------------------
// Log messages

/// Secret-looking fragments, in the shapes masking will have to find.
const BEARER: &str = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiJ1LTQyMTciLCJzY29wZSI6Im9yZGVyczp3cml0ZSIsImlhdCI6MTc5NTM0MTYwMH0.4Xq2m9S0fKpL3dV7yQ1bN8cR5tW6hJ0aZeUiOgYsMkA";
const SECRET_TEXT: &[&str] = &[
    "password=hunter2",
    "Authorization: Bearer {bearer}",
    "aws_access_key_id=AKIAIOSFODNN7EXAMPLE",
    "card=4111111111111111 exp=12/29",
    "x-api-key: 9f2c4e7a1b3d5f6081a2c3e4f5061728",
];

/// Probability (percent) that a message able to carry one gets a secret; START/END/REPORT lines
/// never do, so this is above the ~10 % target share.
const SECRET_PERCENT: u64 = 14;

const FUNCTIONS: &[&str] = &[
    "checkout-api",
    "payments-worker",
    "inventory-sync",
    "auth-authorizer",
    "email-sender",
];
const PATHS: &[&str] = &[
    "/orders",
    "/orders/{id}",
    "/cart/items",
    "/payments/{id}/capture",
    "/users/me",
    "/health",
];
const AGENTS: &[&str] = &[
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Mobile/15E148 Safari/604.1",
    "okhttp/4.12.0",
    "checkout-web/4.2 (+https://shop.example.com)",
];
const APP_MESSAGES: &[&str] = &[
    "order placed",
    "payment authorized",
    "cache miss, loading from DynamoDB",
    "inventory reserved",
    "sending confirmation email",
    "retrying downstream call",
];

/// The kind of log group a record comes from.
#[derive(Clone, Copy)]
enum Source {
    Lambda,
    ApiGateway,
    Container,
}

/// Lambda log streams interleave runtime lines with the function's own lines per invocation;
/// this keeps the phase across records so small records see the same mix as large ones.
struct LambdaStream {
    request_id: String,
    /// Application lines left in the current invocation; `None` before START.
    remaining: Option<u64>,
    ended: bool,
}

struct Generator {
    rng: Rng,
    lambda: LambdaStream,
    clock_ms: i64,
    counter: u64,
    secrets: usize,
}

impl Generator {
    fn new(seed: u64) -> Self {
        Self {
            rng: Rng::new(seed),
            lambda: LambdaStream {
                request_id: String::new(),
                remaining: None,
                ended: false,
            },
            clock_ms: BASE_MS,
            counter: 0,
            secrets: 0,
        }
    }

    fn source(&mut self) -> Source {
        match self.rng.below(100) {
            0..=49 => Source::Lambda,
            50..=74 => Source::ApiGateway,
            _ => Source::Container,
        }
    }

    fn log_group(&mut self, source: Source) -> (String, String) {
        let mut stream = String::new();
        match source {
            Source::Lambda => {
                let function = *self.rng.pick(FUNCTIONS);
                stream.push_str("2026/11/22/[$LATEST]");
                self.rng.hex(&mut stream, 32);
                (format!("/aws/lambda/{function}"), stream)
            }
            Source::ApiGateway => {
                self.rng.hex(&mut stream, 32);
                ("/aws/apigateway/access-logs".to_owned(), stream)
            }
            Source::Container => {
                stream.push_str("ecs/payments/");
                self.rng.hex(&mut stream, 32);
                ("/ecs/payments-service".to_owned(), stream)
            }
        }
    }

    /// A unique 56-digit id that, like CloudWatch's, starts with the event time.
    fn event_id(&mut self, timestamp: i64) -> String {
        self.counter += 1;
        let a = self.rng.below(1_000_000_000_000);
        let b = self.rng.below(1_000_000_000_000);
        format!("{timestamp:013}{a:012}{b:012}{:019}", self.counter)
    }

    fn secret(&mut self) -> Option<String> {
        if !self.rng.percent(SECRET_PERCENT) {
            return None;
        }
        self.secrets += 1;
        Some(self.rng.pick(SECRET_TEXT).replace("{bearer}", BEARER))
    }

    fn event(&mut self, source: Source) -> LogEventOut {
        self.clock_ms += self.rng.range(0, 40) as i64;
        let timestamp = self.clock_ms;
        let message = match source {
            Source::Lambda => self.lambda_line(timestamp),
            Source::ApiGateway => self.access_log(),
            Source::Container => self.container_line(timestamp),
        };
        LogEventOut {
            id: self.event_id(timestamp),
            timestamp,
            message,
        }
    }

    fn lambda_line(&mut self, timestamp: i64) -> String {
        let stream = &mut self.lambda;
        match stream.remaining {
            None => {
                stream.request_id = self.rng.uuid();
                stream.remaining = Some(self.rng.range(1, 5));
                stream.ended = false;
                format!(
                    "START RequestId: {} Version: $LATEST\n",
                    self.lambda.request_id
                )
            }
            Some(0) if !stream.ended => {
                stream.ended = true;
                format!("END RequestId: {}\n", stream.request_id)
            }
            Some(0) => {
                stream.remaining = None;
                let id = stream.request_id.clone();
                self.report_line(&id)
            }
            Some(n) => {
                stream.remaining = Some(n - 1);
                let id = stream.request_id.clone();
                if self.rng.percent(60) {
                    self.app_json(&id, timestamp)
                } else {
                    self.app_text(&id, timestamp)
                }
            }
        }
    }

    fn report_line(&mut self, request_id: &str) -> String {
        let duration = self.rng.range(150, 250_000) as f64 / 100.0;
        let billed = duration.ceil() as u64;
        let memory = *self.rng.pick(&[128u64, 256, 512, 1024]);
        let used = self.rng.range(60, memory.min(400));
        let mut s = format!(
            "REPORT RequestId: {request_id}\tDuration: {duration:.2} ms\tBilled Duration: {billed} ms\tMemory Size: {memory} MB\tMax Memory Used: {used} MB\t"
        );
        if self.rng.percent(10) {
            let init = self.rng.range(9_000, 90_000) as f64 / 100.0;
            let _ = write!(s, "Init Duration: {init:.2} ms\t");
        }
        s.push_str("\nXRAY TraceId: 1-6740574a-");
        self.rng.hex(&mut s, 24);
        s.push_str("\tSegmentId: ");
        self.rng.hex(&mut s, 16);
        s.push_str("\tSampled: true\t\n");
        s
    }

    /// A Powertools-style structured log line.
    fn app_json(&mut self, request_id: &str, timestamp: i64) -> String {
        let function = *self.rng.pick(FUNCTIONS);
        let level = *self
            .rng
            .pick(&["INFO", "INFO", "INFO", "DEBUG", "WARN", "ERROR"]);
        let message = *self.rng.pick(APP_MESSAGES);
        let mut s = format!(
            r#"{{"level":"{level}","location":"handler:{line}","message":"{message}","timestamp":"2026-11-22 10:{min:02}:{sec:02},{ms:03}+0000","service":"{function}","cold_start":false,"function_name":"{function}","function_request_id":"{request_id}","xray_trace_id":"1-6740574a-{trace}","order_id":"o-{order}","latency_ms":{latency}"#,
            line = self.rng.range(20, 400),
            min = (timestamp - BASE_MS) / 60_000 % 60,
            sec = (timestamp - BASE_MS) / 1000 % 60,
            ms = timestamp % 1000,
            trace = {
                let mut t = String::new();
                self.rng.hex(&mut t, 24);
                t
            },
            order = self.rng.range(100_000, 999_999),
            latency = self.rng.range(2, 900),
        );
        if self.rng.percent(40) {
            let path = *self.rng.pick(PATHS);
            let _ = write!(
                s,
                r#","http":{{"method":"POST","path":"{path}","status":{},"query":{{"page":"{}","sort":"-created_at"}}}}"#,
                *self.rng.pick(&[200, 201, 400, 404, 502]),
                self.rng.range(1, 20)
            );
        }
        if let Some(secret) = self.secret() {
            let (key, value) = match secret.split_once([':', '=']) {
                Some((k, v)) => (k.trim(), v.trim()),
                None => ("detail", secret.as_str()),
            };
            let _ = write!(s, r#","{key}":"{value}""#);
        }
        s.push('}');
        s
    }

    /// A Node.js `console.log` line: tab-separated prefix, quotes, sometimes a multi-line dump.
    fn app_text(&mut self, request_id: &str, timestamp: i64) -> String {
        let mut s = String::new();
        let _ = write!(
            s,
            "2026-11-22T10:{:02}:{:02}.{:03}Z\t{request_id}\t",
            (timestamp - BASE_MS) / 60_000 % 60,
            (timestamp - BASE_MS) / 1000 % 60,
            timestamp % 1000
        );
        match self.rng.below(3) {
            0 => {
                let _ = write!(
                    s,
                    "INFO\tfetched {} items from \"inventory\" in {} ms",
                    self.rng.range(1, 40),
                    self.rng.range(3, 300)
                );
            }
            1 => {
                let _ = write!(
                    s,
                    "INFO\tresponse {{\n  statusCode: {},\n  headers: {{ 'content-type': 'application/json' }},\n  body: '{{\"ok\":true,\"id\":\"o-{}\"}}'\n}}",
                    *self.rng.pick(&[200, 201, 202]),
                    self.rng.range(100_000, 999_999)
                );
            }
            _ => {
                let _ = write!(
                    s,
                    "ERROR\tInvoke Error \t{{\"errorType\":\"TimeoutError\",\"errorMessage\":\"upstream \\\"payments\\\" timed out after {} ms\",\"stack\":[\"TimeoutError: upstream timed out\",\"    at Timeout._onTimeout (/var/task/index.js:{}:13)\",\"    at listOnTimeout (node:internal/timers:581:17)\"]}}",
                    self.rng.range(1000, 9000),
                    self.rng.range(10, 300)
                );
            }
        }
        if let Some(secret) = self.secret() {
            let _ = write!(s, " (request: {secret})");
        }
        s.push('\n');
        s
    }

    fn access_log(&mut self) -> String {
        let request_id = self.rng.uuid();
        let path = *self.rng.pick(PATHS);
        let agent = *self.rng.pick(AGENTS);
        let method = *self.rng.pick(&["GET", "GET", "POST", "PUT", "DELETE"]);
        let mut query = String::new();
        if let Some(secret) = self.secret() {
            // Secrets in access logs arrive in query strings (and, escaped, in headers).
            let _ = write!(query, "?{}", secret.replace([' ', ':'], ""));
        }
        format!(
            r#"{{"requestId":"{request_id}","ip":"198.51.100.{ip}","caller":"-","user":"-","requestTime":"22/Nov/2026:10:00:{sec:02} +0000","httpMethod":"{method}","resourcePath":"{path}","path":"{path}{query}","status":"{status}","protocol":"HTTP/1.1","responseLength":"{len}","integrationLatency":"{lat}","userAgent":"{agent}","xrayTraceId":"1-6740574a-{trace}"}}"#,
            ip = self.rng.range(1, 254),
            sec = self.rng.below(60),
            status = *self
                .rng
                .pick(&[200, 200, 200, 201, 204, 400, 403, 404, 500]),
            len = self.rng.range(0, 20_000),
            lat = self.rng.range(2, 900),
            trace = {
                let mut t = String::new();
                self.rng.hex(&mut t, 24);
                t
            },
        )
    }

    fn container_line(&mut self, timestamp: i64) -> String {
        let mut s = format!(
            "2026-11-22 10:{:02}:{:02}.{:03}  ",
            (timestamp - BASE_MS) / 60_000 % 60,
            (timestamp - BASE_MS) / 1000 % 60,
            timestamp % 1000
        );
        if self.rng.percent(12) {
            let _ = write!(
                s,
                "ERROR 1 --- [nio-8080-exec-{}] c.e.payments.ChargeService : charge failed for \"c-{}\"\njava.net.SocketTimeoutException: Read timed out\n\tat java.base/sun.nio.ch.NioSocketImpl.timedRead(NioSocketImpl.java:278)\n\tat java.base/java.net.Socket$SocketInputStream.read(Socket.java:1099)\n\tat com.example.payments.GatewayClient.charge(GatewayClient.java:{})\n\tat com.example.payments.ChargeService.charge(ChargeService.java:57)\n\t... 42 common frames omitted\n",
                self.rng.range(1, 10),
                self.rng.range(10_000, 99_999),
                self.rng.range(40, 400)
            );
        } else {
            let _ = write!(
                s,
                " INFO [payments,{:016x},{:016x}] 1 --- [nio-8080-exec-{}] c.e.payments.ChargeService : charge c-{} authorized amount={}.{:02} currency=\"EUR\" merchant=\"Café Zürich\"",
                self.rng.next(),
                self.rng.next(),
                self.rng.range(1, 10),
                self.rng.range(10_000, 99_999),
                self.rng.range(1, 500),
                self.rng.below(100)
            );
        }
        if let Some(secret) = self.secret() {
            let _ = write!(s, " {secret}");
        }
        s
    }
}

// ---------------------------------------------------------------------------------------------
// Kinesis events

#[derive(Serialize)]
struct LogEventOut {
    id: String,
    timestamp: i64,
    message: String,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Subscription<'a> {
    message_type: &'a str,
    owner: &'a str,
    log_group: &'a str,
    log_stream: &'a str,
    subscription_filters: [&'a str; 1],
    log_events: &'a [LogEventOut],
}

/// A generated event and the numbers that describe it.
pub struct Workload {
    pub name: &'static str,
    pub json: Vec<u8>,
    pub records: usize,
    pub events: usize,
    decompressed_bytes: usize,
    message_bytes: usize,
    secret_events: usize,
}

impl Workload {
    /// Adds records of `events_per_record` events until the next one would take the event
    /// past Lambda's payload limit (or the batch reaches its record maximum).
    pub fn build(name: &'static str, events_per_record: usize) -> Self {
        let mut g = Generator::new(SEED);
        let mut body = Vec::with_capacity(PAYLOAD_LIMIT);
        let mut record = Vec::new();
        let mut payload = Vec::new();
        let mut data = String::new();
        let (mut records, mut events, mut decompressed_bytes, mut message_bytes) = (0, 0, 0, 0);
        let mut secrets_before;
        const HEAD: &[u8] = br#"{"Records":["#;
        const TAIL: &[u8] = b"]}";

        while records < MAX_BATCH_RECORDS {
            secrets_before = g.secrets;
            let source = g.source();
            let (group, stream) = g.log_group(source);
            let log_events: Vec<_> = (0..events_per_record).map(|_| g.event(source)).collect();
            payload.clear();
            serde_json::to_writer(
                &mut payload,
                &Subscription {
                    message_type: "DATA_MESSAGE",
                    owner: "123456789012",
                    log_group: &group,
                    log_stream: &stream,
                    subscription_filters: ["log-forwarder"],
                    log_events: &log_events,
                },
            )
            .unwrap();
            let mut gz = GzEncoder::new(Vec::new(), Compression::default());
            gz.write_all(&payload).unwrap();
            data.clear();
            base64::engine::general_purpose::STANDARD
                .encode_string(gz.finish().unwrap(), &mut data);

            let sequence = format!("4965732081045324596238641920477394658127631484291{records:07}");
            let mut partition_key = String::new();
            g.rng.hex(&mut partition_key, 32);
            let arrival = (BASE_MS + 5_000 + records as i64 * 3) as f64 / 1000.0;
            record.clear();
            write!(
                record,
                r#"{{"kinesis":{{"kinesisSchemaVersion":"1.0","partitionKey":"{partition_key}","sequenceNumber":"{sequence}","data":"{data}","approximateArrivalTimestamp":{arrival}}},"eventSource":"aws:kinesis","eventVersion":"1.0","eventID":"shardId-000000000000:{sequence}","eventName":"aws:kinesis:record","invokeIdentityArn":"arn:aws:iam::123456789012:role/log-forwarder","awsRegion":"us-east-1","eventSourceARN":"arn:aws:kinesis:us-east-1:123456789012:stream/log-forwarder"}}"#
            )
            .unwrap();

            let separator = usize::from(records > 0);
            if HEAD.len() + body.len() + separator + record.len() + TAIL.len() > PAYLOAD_LIMIT {
                g.secrets = secrets_before;
                break;
            }
            if separator == 1 {
                body.push(b',');
            }
            body.extend_from_slice(&record);
            records += 1;
            events += log_events.len();
            decompressed_bytes += payload.len();
            message_bytes += log_events.iter().map(|e| e.message.len()).sum::<usize>();
        }

        let mut json = Vec::with_capacity(HEAD.len() + body.len() + TAIL.len());
        json.extend_from_slice(HEAD);
        json.extend_from_slice(&body);
        json.extend_from_slice(TAIL);
        Self {
            name,
            json,
            records,
            events,
            decompressed_bytes,
            message_bytes,
            secret_events: g.secrets,
        }
    }

    pub fn describe(&self) {
        eprintln!(
            "workload {}: event {} bytes ({:.2} MB), {} records, {} log events, {} bytes decompressed ({:.1} MB), mean message {:.0} B, {:.1} % secret-looking",
            self.name,
            self.json.len(),
            self.json.len() as f64 / 1e6,
            self.records,
            self.events,
            self.decompressed_bytes,
            self.decompressed_bytes as f64 / 1e6,
            self.message_bytes as f64 / self.events as f64,
            100.0 * self.secret_events as f64 / self.events as f64,
        );
    }
}

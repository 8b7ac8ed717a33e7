//! No secret reaches the destination or the dead-letter queue: the whole secrets corpus
//! (tests/fixtures/masking/secrets.jsonl) goes through the real handler into osmem-server, and
//! secret-bearing records are dead-lettered; then every byte that left is searched for every
//! secret.

mod support;

use std::time::Duration;

use log_forwarder::secrets;
use serde_json::Value;
use support::*;

const DAY: i64 = 1_795_305_600_000;

struct Case {
    text: String,
    secrets: Vec<String>,
}

fn corpus() -> Vec<Case> {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/masking/secrets.jsonl"
    );
    std::fs::read_to_string(path)
        .expect("secrets corpus")
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            let v: Value = serde_json::from_str(l).expect("corpus line");
            Case {
                text: v["text"].as_str().unwrap().to_owned(),
                secrets: v["secrets"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|s| s.as_str().unwrap().to_owned())
                    .collect(),
            }
        })
        .collect()
}

fn leaks<'a>(haystack: &str, cases: &'a [Case]) -> Vec<&'a str> {
    cases
        .iter()
        .flat_map(|c| c.secrets.iter())
        .filter(|s| haystack.contains(s.as_str()))
        .map(String::as_str)
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_secret_reaches_the_destination_or_the_dead_letter_queue() {
    let h = Harness::new("mask-e2e", &[]).await;
    let cases = corpus();
    let events: Vec<Ev> = cases
        .iter()
        .enumerate()
        .map(|(i, c)| Ev {
            id: format!("m-{i:04}"),
            timestamp: DAY + i as i64,
            message: c.text.clone(),
        })
        .collect();
    let mut records: Vec<Vec<u8>> = events
        .chunks(40)
        .map(|chunk| cloudwatch_payload("/aws/lambda/secrets", chunk))
        .collect();
    // Producer text full of secrets: one document per line, masked like any message.
    let plain_text: String = cases
        .iter()
        .take(20)
        .map(|c| c.text.as_str())
        .collect::<Vec<_>>()
        .join("\n");
    let text_lines = plain_text.lines().filter(|l| !l.trim().is_empty()).count();
    records.push(plain_text.as_bytes().to_vec());
    // Poison records (broken subscription payloads) whose readable text is full of secrets.
    let poison_text = format!("{{\"messageType\":\"DATA_MESSAGE\",\"logEvents\":[\n{plain_text}");
    records.push(poison_text.as_bytes().to_vec());
    records.push(gzip(poison_text.as_bytes()));
    // A document the destination rejects for good (a mapping conflict on `json.status`),
    // carrying secrets into the dead-letter queue.
    let conflict = [
        Ev {
            id: "c-0".into(),
            timestamp: DAY,
            message: r#"{"status":{"code":1},"password":"first-pw-123456"}"#.into(),
        },
        Ev {
            id: "c-1".into(),
            timestamp: DAY,
            message: r#"{"status":"x","password":"conflict-pw-98765","note":"Bearer abcdefghijklmnop1234"}"#
                .into(),
        },
    ];
    records.push(cloudwatch_payload("/g", &conflict[..1]));
    records.push(cloudwatch_payload("/g", &conflict[1..]));
    let event = kinesis_event(&records);

    let (failed, summary) = h.invoke(&event, Duration::from_secs(30)).await;
    assert!(failed.is_empty(), "{failed:?}");
    // Every event is indexed or dead-lettered. Besides the planned conflict, the corpus's own
    // JSON lines disagree on the types of some `json.*` fields (as real applications sharing
    // an index do): osmem rejects those documents, and they are dead-lettered — masked too.
    assert_eq!(summary.poison_records, 2);
    assert_eq!(
        summary.delivered + summary.dead_lettered,
        cases.len() + conflict.len() + text_lines + 2
    );
    assert!(summary.dead_lettered >= 3);
    assert!(
        summary.masked.total() >= cases.iter().map(|c| c.secrets.len() as u64).sum::<u64>() / 2
    );

    let indexed = serde_json::to_string(&h.documents().await).unwrap();
    assert!(indexed.contains("[MASKED:"), "nothing was masked?");
    let leaked = leaks(&indexed, &cases);
    assert!(leaked.is_empty(), "secrets indexed: {leaked:?}");
    assert!(!indexed.contains("first-pw-123456"));

    let letters = h.dead_letters().await;
    assert_eq!(letters.len(), summary.dead_lettered);
    let dead = serde_json::to_string(&letters).unwrap();
    let leaked = leaks(&dead, &cases);
    assert!(leaked.is_empty(), "secrets dead-lettered: {leaked:?}");
    assert!(!dead.contains("conflict-pw-98765") && !dead.contains("abcdefghijklmnop1234"));
    // Which of the two conflicting documents is refused depends on what was indexed first.
    let conflict_letter = letters
        .iter()
        .find(|l| l["event_id"] == "c-1" || l["event_id"] == "c-0")
        .expect("a conflicting document was dead-lettered");
    assert_eq!(conflict_letter["stage"], "destination");
    assert_eq!(
        conflict_letter["document"]["json"]["password"],
        "[MASKED:password]"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hash_mode_reads_its_key_from_ssm_and_keeps_equal_secrets_correlatable() {
    let sdk = servers::aws_config().await;
    let ssm = aws_sdk_ssm::Client::new(&sdk);
    let name = "/log-forwarder/test/mask-hash-key";
    ssm.put_parameter()
        .name(name)
        .r#type(aws_sdk_ssm::types::ParameterType::SecureString)
        .value("0123456789abcdef-hmac-key")
        .overwrite(true)
        .send()
        .await
        .expect("put parameter into moto");
    let key = secrets::fetch(&ssm, name)
        .await
        .expect("fetch from moto SSM");
    assert_eq!(format!("{key:?}"), "Secret(<redacted>)");

    let missing = secrets::fetch(&ssm, "/log-forwarder/test/missing")
        .await
        .unwrap_err();
    assert!(
        missing.to_string().contains("/log-forwarder/test/missing"),
        "{missing}"
    );
    assert!(missing.to_string().contains("put-parameter"), "{missing}");

    let h = Harness::new(
        "mask-hash",
        &[("MASK_MODE", "hash"), ("MASK_HASH_KEY", key.expose())],
    )
    .await;
    let events = [
        Ev {
            id: "h-0".into(),
            timestamp: DAY,
            message: "login password=hunter2".into(),
        },
        Ev {
            id: "h-1".into(),
            timestamp: DAY,
            message: "retry password=hunter2".into(),
        },
        Ev {
            id: "h-2".into(),
            timestamp: DAY,
            message: "other password=letmein".into(),
        },
    ];
    let event = kinesis_event(&[cloudwatch_payload("/g", &events)]);
    let (failed, _) = h.invoke(&event, Duration::from_secs(20)).await;
    assert!(failed.is_empty());
    let docs = h.documents().await;
    let marker = |i: usize| {
        let m = docs[i].2["message"].as_str().unwrap().to_owned();
        assert!(!m.contains("hunter2") && !m.contains("letmein"), "{m}");
        m.split_once("password=").unwrap().1.to_owned()
    };
    assert!(marker(0).starts_with("[MASKED:password:"));
    assert_eq!(marker(0), marker(1));
    assert_ne!(marker(0), marker(2));
}

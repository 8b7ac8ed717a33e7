//! Authentication to Elasticsearch/OpenSearch, checked by the fault proxy in front of
//! osmem-server: basic and API-key headers with secrets from moto's SSM (and their rotation),
//! and SigV4 signatures verified independently (tests/support/sigv4.rs) over the exact bytes
//! sent, compressed or not.

mod support;

use std::time::Duration;

use support::proxy::ExpectedAuth;
use support::sigv4::TestCredentials;
use support::*;

const DAY1: i64 = 1_795_305_600_000; // 2026-11-22T00:00:00Z
const BUDGET: Duration = Duration::from_secs(20);

async fn ssm() -> aws_sdk_ssm::Client {
    aws_sdk_ssm::Client::new(&support::servers::aws_config().await)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn basic_auth_uses_the_password_from_ssm_and_picks_up_a_rotation() {
    let parameter = "/log-forwarder/test/es-password";
    put_secure_string(&ssm().await, parameter, "first-password").await;
    let h = Harness::new(
        "auth-basic",
        &[
            ("ES_AUTH", "basic"),
            ("ES_USERNAME", "forwarder"),
            ("ES_PASSWORD_PARAMETER", parameter),
        ],
    )
    .await;
    h.proxy
        .require_auth(ExpectedAuth::basic("forwarder", "first-password"));
    let event = kinesis_event(&[cloudwatch_payload(
        "/aws/lambda/orders",
        &events("b1", 3, DAY1),
    )]);
    let (failed, summary) = h.invoke(&event, BUDGET).await;
    assert!(failed.is_empty(), "{failed:?}");
    assert_eq!(summary.delivered, 3);
    assert_eq!(h.proxy.auth_failures(), 0);

    // The password is rotated: SSM and the cluster change together, the function is warm.
    put_secure_string(&ssm().await, parameter, "second-password").await;
    h.proxy
        .require_auth(ExpectedAuth::basic("forwarder", "second-password"));
    let event = kinesis_event(&[cloudwatch_payload(
        "/aws/lambda/orders",
        &events("b2", 2, DAY1),
    )]);
    let (failed, summary) = h.invoke(&event, BUDGET).await;
    assert!(failed.is_empty(), "{failed:?}");
    assert_eq!(summary.delivered, 2);
    assert_eq!(h.proxy.auth_failures(), 1, "one 401, then the new password");
    assert_eq!(h.count().await, 5);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_api_key_is_an_outage_and_nothing_is_dead_lettered() {
    let parameter = "/log-forwarder/test/es-api-key";
    put_secure_string(&ssm().await, parameter, "a2V5LWlkOmtleS1zZWNyZXQ=").await;
    let h = Harness::new(
        "auth-api-key",
        &[("ES_AUTH", "api_key"), ("ES_API_KEY_PARAMETER", parameter)],
    )
    .await;
    h.proxy
        .require_auth(ExpectedAuth::api_key("a2V5LWlkOmtleS1zZWNyZXQ="));
    let event = kinesis_event(&[cloudwatch_payload(
        "/aws/lambda/orders",
        &events("k1", 2, DAY1),
    )]);
    let (failed, summary) = h.invoke(&event, BUDGET).await;
    assert!(failed.is_empty(), "{failed:?}");
    assert_eq!(summary.delivered, 2);
    let sent = h.proxy.bulk_requests();
    assert_eq!(
        sent[0].header("authorization"),
        Some("ApiKey a2V5LWlkOmtleS1zZWNyZXQ=")
    );

    // The key is revoked on the cluster and SSM still has the old one.
    h.proxy.require_auth(ExpectedAuth::api_key("bmV3LWtleQ=="));
    let event = kinesis_event(&[cloudwatch_payload(
        "/aws/lambda/orders",
        &events("k2", 3, DAY1),
    )]);
    let (failed, summary) = h.invoke(&event, BUDGET).await;
    assert_eq!(failed, vec![sequence_number(0)]);
    assert_eq!(summary.delivered, 0);
    assert_eq!(summary.dead_lettered, 0);
    assert!(h.dead_letters().await.is_empty());
    assert_eq!(h.count().await, 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigv4_signatures_verify_over_the_compressed_body() {
    for (service, compression) in [("es", "gzip"), ("aoss", "none")] {
        let h = Harness::new(
            &format!("auth-sigv4-{service}"),
            &[
                ("ES_AUTH", "sigv4"),
                ("ES_SIGV4_SERVICE", service),
                ("ES_SIGV4_REGION", "eu-west-1"),
                ("ES_COMPRESSION", compression),
            ],
        )
        .await;
        // The harness's AWS credentials (moto's "testing" pair) stand in for the role's.
        h.proxy
            .require_auth(ExpectedAuth::SigV4(TestCredentials::new(
                "testing",
                "testing",
                "eu-west-1",
                service,
            )));
        let event = kinesis_event(&[
            cloudwatch_payload("/aws/lambda/orders", &events("s", 4, DAY1)),
            cloudwatch_payload("/aws/lambda/billing", &events("t", 2, DAY1)),
        ]);
        let (failed, summary) = h.invoke(&event, BUDGET).await;
        assert!(
            failed.is_empty(),
            "{service}: {failed:?} {:?}",
            h.proxy.last_auth_failure()
        );
        assert_eq!(summary.delivered, 6, "{service}");
        assert_eq!(h.proxy.auth_failures(), 0, "{service}");
        let sent = &h.proxy.bulk_requests()[0];
        assert_eq!(
            sent.header("content-encoding").is_some(),
            compression == "gzip"
        );
        assert!(sent.header("x-amz-content-sha256").is_some());
        assert_eq!(h.count().await, 6, "{service}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_signature_the_domain_refuses_is_an_outage() {
    let h = Harness::new(
        "auth-sigv4-refused",
        &[
            ("ES_AUTH", "sigv4"),
            ("ES_SIGV4_SERVICE", "es"),
            ("ES_SIGV4_REGION", "eu-west-1"),
        ],
    )
    .await;
    // The domain expects another region: every signature is wrong (403).
    h.proxy
        .require_auth(ExpectedAuth::SigV4(TestCredentials::new(
            "testing",
            "testing",
            "us-east-1",
            "es",
        )));
    let event = kinesis_event(&[cloudwatch_payload(
        "/aws/lambda/orders",
        &events("r", 2, DAY1),
    )]);
    let (failed, summary) = h.invoke(&event, BUDGET).await;
    assert_eq!(failed, vec![sequence_number(0)]);
    assert_eq!(summary.dead_lettered, 0);
    assert!(h.proxy.auth_failures() >= 1);
    let reason = h.proxy.last_auth_failure().unwrap_or_default();
    assert!(
        reason.contains("region") || reason.contains("scope"),
        "{reason}"
    );
    assert_eq!(h.count().await, 0);
}

//! Cold start: configuration, clients, secrets, then the Lambda runtime loop — nothing else.

use std::sync::Arc;

use aws_config::BehaviorVersion;
use lambda_runtime::{service_fn, Error, LambdaEvent};
use log_forwarder::config::DestinationConfig;
use log_forwarder::dlq::DeadLetterQueue;
use log_forwarder::handler::deadline_from_epoch_ms;
use log_forwarder::input::KinesisEvent;
use log_forwarder::mask::MaskMode;
use log_forwarder::output::auth::Authenticator;
use log_forwarder::output::elasticsearch::Elasticsearch;
use log_forwarder::output::logzio::Logzio;
use log_forwarder::output::Destination;
use log_forwarder::secrets::CachedSecret;
use log_forwarder::{logging, secrets, Config, Forwarder};

#[tokio::main]
async fn main() -> Result<(), Error> {
    let mut config = match Config::from_env() {
        Ok(config) => config,
        Err(e) => {
            logging::init("info");
            tracing::error!(variable = e.variable, error = %e, "invalid configuration");
            return Err(e.into());
        }
    };
    logging::init(&config.log_level);

    let aws = aws_config::load_defaults(BehaviorVersion::latest()).await;
    let ssm = aws_sdk_ssm::Client::new(&aws);
    if let Some(name) = config.mask_hash_key_parameter.clone() {
        let key = secrets::fetch(&ssm, &name).await.inspect_err(|e| {
            tracing::error!(error = %e, "cannot read MASK_HASH_KEY_PARAMETER");
        })?;
        config.mask.mode = MaskMode::Hash(key.expose().as_bytes().to_vec());
    }
    let dlq = DeadLetterQueue::new(
        aws_sdk_sqs::Client::new(&aws),
        config.dlq_queue_url.clone(),
        config.dlq_max_message_bytes,
        config.retry.clone(),
    );
    match config.destination.clone() {
        DestinationConfig::Elasticsearch(es) => {
            let auth = Authenticator::new(&es.auth, Some(&ssm), aws.credentials_provider())
                .await
                .inspect_err(|e| tracing::error!(error = %e, "cannot set up ES_AUTH"))?;
            let destination = Elasticsearch::new(&es, &config.output, auth)?;
            run(Forwarder::new(config, destination, dlq)?).await
        }
        DestinationConfig::Logzio(logzio) => {
            let token = CachedSecret::load(&logzio.token, Some(&ssm))
                .await
                .inspect_err(|e| tracing::error!(error = %e, "cannot read the Logz.io token"))?;
            let destination = Logzio::new(&logzio, &config.output, token)?;
            run(Forwarder::new(config, destination, dlq)?).await
        }
    }
}

async fn run<D: Destination>(forwarder: Forwarder<D>) -> Result<(), Error> {
    let forwarder = Arc::new(forwarder);
    // Where the function runs: the region of documents from a direct CloudWatch Logs delivery.
    let region: Arc<str> = std::env::var("AWS_REGION").unwrap_or_default().into();
    lambda_runtime::run(service_fn(move |event: LambdaEvent<KinesisEvent>| {
        let forwarder = Arc::clone(&forwarder);
        let region = Arc::clone(&region);
        async move {
            tracing::debug!(
                deadline_ms = event.context.deadline,
                now_ms = log_forwarder::time::now_millis(),
                records = event.payload.records.len(),
                "invocation"
            );
            let deadline = deadline_from_epoch_ms(event.context.deadline);
            let (result, summary) = forwarder
                .handle_invocation(&event.payload, deadline, &region)
                .await;
            logging::summary(&event.context.request_id, &summary);
            result.map_err(Error::from)
        }
    }))
    .await
}

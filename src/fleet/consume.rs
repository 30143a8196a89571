//! Reading the probes' records from JetStream: a durable pull consumer per fleet instance
//! (`NAME-K-of-N`), so a restarted instance goes on where it stopped, and each instance
//! reads every record (the work is shared by key, see the module documentation).

use crate::publish::SUBJECT_PREFIX;
use async_nats::jetstream::{self, consumer::PullConsumer, consumer::pull};

/// Where the records are.
#[derive(Debug, Clone)]
pub struct ConsumeOptions {
    /// NATS server URL.
    pub url: String,
    /// The stream the probes publish into.
    pub stream: String,
    /// The durable consumer's name.
    pub durable: String,
}

/// Records acknowledged-pending at most: the server stops delivering beyond this until
/// the fleet has acknowledged what it holds.
const MAX_ACK_PENDING: i64 = 10_000;

/// Connects and opens (or creates) this instance's durable consumer; also returns how
/// many records it has not read yet.
pub async fn open(opts: &ConsumeOptions) -> Result<(PullConsumer, u64), async_nats::Error> {
    let client = async_nats::ConnectOptions::new()
        .name(format!("dropscope fleet {}", opts.durable))
        .connect(opts.url.as_str())
        .await?;
    let js = jetstream::new(client);
    let stream = js.get_stream(&opts.stream).await?;
    let config = pull::Config {
        durable_name: Some(opts.durable.clone()),
        ack_policy: jetstream::consumer::AckPolicy::Explicit,
        deliver_policy: jetstream::consumer::DeliverPolicy::All,
        filter_subject: format!("{SUBJECT_PREFIX}.>"),
        max_ack_pending: MAX_ACK_PENDING,
        ..Default::default()
    };
    let mut consumer: PullConsumer = stream.get_or_create_consumer(&opts.durable, config).await?;
    let pending = consumer.info().await?.num_pending;
    Ok((consumer, pending))
}

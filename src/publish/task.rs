//! The publisher thread: a tokio runtime of its own, one NATS client, records published one
//! by one until acknowledged.

use super::{Counters, Outgoing, PublishOptions, SUBJECT_PREFIX};
use async_nats::jetstream::{self, message::PublishMessage, stream};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};
use tokio::sync::{mpsc, watch};

/// First pause after a failed publish; it doubles up to [`MAX_BACKOFF`].
const FIRST_BACKOFF: Duration = Duration::from_millis(100);
/// Longest pause between two tries of one record: a NATS that returns is used within it.
const MAX_BACKOFF: Duration = Duration::from_secs(1);
/// How long one publish waits for its acknowledgement before it is tried again.
const ACK_TIMEOUT: Duration = Duration::from_secs(2);
/// JetStream's duplicate window: a record retried within it is stored once.
const DUPLICATE_WINDOW: Duration = Duration::from_secs(120);

type Deadline = watch::Receiver<Option<Instant>>;

/// Runs the publisher until the queue is closed and empty, or the deadline passes.
pub(super) fn run(
    opts: PublishOptions,
    mut rx: mpsc::Receiver<Outgoing>,
    deadline: Deadline,
    counters: Arc<Counters>,
) {
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("dropscope: publishing to {}: {e}", opts.url);
            return lose_rest(&mut rx, &counters);
        }
    };
    runtime.block_on(async {
        let published = publish_all(&opts, &mut rx, deadline, &counters).await;
        if let Err(e) = published {
            eprintln!("dropscope: publishing to {}: {e}", opts.url);
        }
    });
    lose_rest(&mut rx, &counters);
}

/// Counts what is still queued as lost.
fn lose_rest(rx: &mut mpsc::Receiver<Outgoing>, counters: &Counters) {
    rx.close();
    while rx.try_recv().is_ok() {
        counters.lost.fetch_add(1, Ordering::Relaxed);
    }
}

async fn publish_all(
    opts: &PublishOptions,
    rx: &mut mpsc::Receiver<Outgoing>,
    mut deadline: Deadline,
    counters: &Counters,
) -> Result<(), async_nats::Error> {
    let client = async_nats::ConnectOptions::new()
        .name(format!("dropscope probe {}", opts.probe))
        .retry_on_initial_connect()
        .request_timeout(Some(ACK_TIMEOUT))
        .reconnect_delay_callback(|attempts| {
            (FIRST_BACKOFF * attempts.min(10) as u32).min(MAX_BACKOFF)
        })
        .connect(opts.url.as_str())
        .await?;
    let js = jetstream::new(client);
    let mut stream_ready = false;
    loop {
        let next = tokio::select! {
            m = rx.recv() => m,
            _ = past(&mut deadline) => return Ok(()),
        };
        let Some(msg) = next else {
            return Ok(());
        };
        let sent = publish_one(&js, opts, &msg, &mut stream_ready, &mut deadline).await;
        let counter = if sent {
            &counters.published
        } else {
            &counters.lost
        };
        counter.fetch_add(1, Ordering::Relaxed);
    }
}

/// Publishes one record until acknowledged; false when the deadline passed first.
async fn publish_one(
    js: &jetstream::Context,
    opts: &PublishOptions,
    msg: &Outgoing,
    stream_ready: &mut bool,
    deadline: &mut Deadline,
) -> bool {
    let mut backoff = FIRST_BACKOFF;
    loop {
        if !*stream_ready {
            *stream_ready = ensure_stream(js, opts).await;
        }
        if *stream_ready && try_publish(js, msg).await {
            return true;
        }
        tokio::select! {
            _ = tokio::time::sleep(backoff) => {}
            _ = past(deadline) => return false,
        }
        backoff = (backoff * 2).min(MAX_BACKOFF);
    }
}

async fn try_publish(js: &jetstream::Context, msg: &Outgoing) -> bool {
    let publish = PublishMessage::build()
        .payload(msg.payload.clone())
        .message_id(&msg.id);
    match js.send_publish(msg.subject.clone(), publish).await {
        Ok(ack) => ack.await.is_ok(),
        Err(_) => false,
    }
}

/// Creates the stream if it is missing (an existing one is used as it is configured).
async fn ensure_stream(js: &jetstream::Context, opts: &PublishOptions) -> bool {
    let config = stream::Config {
        name: opts.stream.clone(),
        subjects: vec![format!("{SUBJECT_PREFIX}.>")],
        max_age: opts.max_age,
        max_bytes: opts.max_bytes,
        storage: stream::StorageType::File,
        discard: stream::DiscardPolicy::Old,
        duplicate_window: DUPLICATE_WINDOW,
        ..Default::default()
    };
    js.get_or_create_stream(config).await.is_ok()
}

/// Resolves once a deadline is set and has passed; never while none is set.
async fn past(deadline: &mut Deadline) {
    loop {
        let at = *deadline.borrow_and_update();
        match at {
            Some(at) => return tokio::time::sleep_until(at.into()).await,
            None => {
                if deadline.changed().await.is_err() {
                    return std::future::pending().await;
                }
            }
        }
    }
}

//! Prometheus metrics and the endpoint that serves them.
//!
//! The endpoint is a minimal HTTP/1.1 responder on a tokio `TcpListener`: a scrape is one
//! GET answered with one body and `Connection: close`, and no HTTP library is in the
//! dependency tree, so hyper and its helpers would add compile time on small machines for
//! nothing a scraper needs.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// Longest request head read from a scraper.
const MAX_REQUEST: usize = 8 * 1024;
/// A scraper that sends nothing for this long is dropped.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(5);

/// Labels of per-cause counters.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct CauseLabels {
    /// The taxonomy's cause.
    pub cause: String,
    /// The layer to fix.
    pub layer: String,
}

/// Labels of per-kind counters.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct KindLabels {
    /// The kind.
    pub kind: String,
}

/// Every metric `live` exports, named `dropscope_*`.
pub struct Metrics {
    registry: Registry,
    /// MQTT connections open now.
    pub open_connections: Gauge,
    /// TCP flows tracked now (MQTT or not).
    pub open_flows: Gauge,
    /// Connections closed, by cause and layer.
    pub connections: Family<CauseLabels, Counter>,
    /// Drops (closes other than a clean DISCONNECT), by cause and layer.
    pub drops: Family<CauseLabels, Counter>,
    /// Cross-connection findings, by kind.
    pub findings: Family<KindLabels, Counter>,
    /// `keepalive_overdue` events raised.
    pub keepalive_overdue: Counter,
    /// Keepalive misses recorded on closed connections.
    pub keepalive_misses: Counter,
    /// Retransmitted segments of closed connections.
    pub retransmissions: Counter,
    /// Frames analyzed.
    pub frames: Counter,
    /// Packets libpcap received.
    pub pcap_received: Counter,
    /// Packets libpcap dropped (buffer full: analysis fell behind).
    pub pcap_dropped: Counter,
    /// Packets the interface or driver dropped.
    pub pcap_if_dropped: Counter,
    /// Flows evicted because the flow table was full.
    pub flows_evicted: Counter,
    /// Flows retired after being idle past `--flow-idle`.
    pub flows_idle_evicted: Counter,
    /// Times a flow's reassembly buffer hit its cap.
    pub reassembly_cap_hits: Counter,
    /// Packets pushed out of the `--keep` ring by its byte cap before their time.
    pub ring_evicted: Counter,
    /// pcap files written by `--keep`.
    pub kept_files: Counter,
    /// Records JetStream acknowledged (`--publish`).
    pub published: Counter,
    /// Records not published: the queue was full while NATS was away, or still queued at
    /// the end.
    pub publish_lost: Counter,
}

impl Metrics {
    /// All metrics at zero, registered.
    pub fn new() -> Metrics {
        let mut m = Metrics {
            registry: Registry::with_prefix("dropscope"),
            open_connections: Gauge::default(),
            open_flows: Gauge::default(),
            connections: Family::default(),
            drops: Family::default(),
            findings: Family::default(),
            keepalive_overdue: Counter::default(),
            keepalive_misses: Counter::default(),
            retransmissions: Counter::default(),
            frames: Counter::default(),
            pcap_received: Counter::default(),
            pcap_dropped: Counter::default(),
            pcap_if_dropped: Counter::default(),
            flows_evicted: Counter::default(),
            flows_idle_evicted: Counter::default(),
            reassembly_cap_hits: Counter::default(),
            ring_evicted: Counter::default(),
            kept_files: Counter::default(),
            published: Counter::default(),
            publish_lost: Counter::default(),
        };
        m.register_all();
        m
    }

    fn register_all(&mut self) {
        let r = &mut self.registry;
        r.register(
            "open_connections",
            "MQTT connections open now",
            self.open_connections.clone(),
        );
        r.register(
            "open_flows",
            "TCP flows tracked now",
            self.open_flows.clone(),
        );
        r.register(
            "connections",
            "Connections closed, by cause and layer",
            self.connections.clone(),
        );
        r.register(
            "drops",
            "Connections dropped, by cause and layer",
            self.drops.clone(),
        );
        r.register(
            "findings",
            "Cross-connection findings, by kind",
            self.findings.clone(),
        );
        r.register(
            "keepalive_overdue",
            "Clients silent past 1.5 x keepalive",
            self.keepalive_overdue.clone(),
        );
        r.register(
            "keepalive_misses",
            "Keepalive misses on closed connections",
            self.keepalive_misses.clone(),
        );
        r.register(
            "retransmissions",
            "Retransmitted segments of closed connections",
            self.retransmissions.clone(),
        );
        r.register("frames", "Frames analyzed", self.frames.clone());
        r.register(
            "pcap_received",
            "Packets libpcap received",
            self.pcap_received.clone(),
        );
        r.register(
            "pcap_dropped",
            "Packets libpcap dropped: analysis fell behind",
            self.pcap_dropped.clone(),
        );
        r.register(
            "pcap_if_dropped",
            "Packets the interface dropped",
            self.pcap_if_dropped.clone(),
        );
        r.register(
            "flows_evicted",
            "Flows evicted: flow table full",
            self.flows_evicted.clone(),
        );
        r.register(
            "flows_idle_evicted",
            "Flows retired after being idle",
            self.flows_idle_evicted.clone(),
        );
        r.register(
            "reassembly_cap_hits",
            "Reassembly buffer cap hits",
            self.reassembly_cap_hits.clone(),
        );
        r.register(
            "ring_evicted",
            "Packets pushed out of the keep ring by its byte cap",
            self.ring_evicted.clone(),
        );
        r.register(
            "kept_files",
            "pcap files written around drops",
            self.kept_files.clone(),
        );
        r.register(
            "published",
            "Records published to NATS JetStream",
            self.published.clone(),
        );
        r.register(
            "publish_lost",
            "Records not published to NATS: queue full or unsent at the end",
            self.publish_lost.clone(),
        );
    }

    /// The metrics in the OpenMetrics text format.
    pub fn render(&self) -> String {
        let mut out = String::new();
        // Writing into a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut out, &self.registry);
        out
    }
}

impl Render for Metrics {
    fn render(&self) -> String {
        Metrics::render(self)
    }
}

/// What the endpoint serves: a registry rendered as OpenMetrics text (`live`'s metrics,
/// `fleet`'s).
pub trait Render: Send + Sync + 'static {
    /// The metrics in the OpenMetrics text format.
    fn render(&self) -> String;
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics::new()
    }
}

/// Raises a counter to an absolute value read elsewhere (libpcap's, the engine's).
pub fn raise_to(counter: &Counter, value: u64) {
    counter.inc_by(value.saturating_sub(counter.get()));
}

/// Binds `addr` and serves `GET /metrics` until the runtime ends.
pub async fn serve<M: Render>(addr: SocketAddr, metrics: Arc<M>) -> std::io::Result<SocketAddr> {
    let listener = TcpListener::bind(addr).await?;
    let bound = listener.local_addr()?;
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let m = metrics.clone();
            tokio::spawn(async move {
                let _ = tokio::time::timeout(REQUEST_TIMEOUT, answer(stream, m.as_ref())).await;
            });
        }
    });
    Ok(bound)
}

async fn answer<M: Render>(mut stream: TcpStream, metrics: &M) -> std::io::Result<()> {
    let head = read_head(&mut stream).await?;
    let (status, body) = match request_path(&head) {
        Some("/metrics") | Some("/") => ("200 OK", metrics.render()),
        Some(_) => ("404 Not Found", "try /metrics\n".to_string()),
        None => ("400 Bad Request", String::new()),
    };
    let response = format!(
        "HTTP/1.1 {status}\r\nContent-Type: application/openmetrics-text; version=1.0.0; charset=utf-8\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(response.as_bytes()).await?;
    stream.shutdown().await
}

async fn read_head(stream: &mut TcpStream) -> std::io::Result<Vec<u8>> {
    let mut head = Vec::with_capacity(512);
    let mut buf = [0u8; 1024];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") && head.len() < MAX_REQUEST {
        let n = stream.read(&mut buf).await?;
        if n == 0 {
            break;
        }
        head.extend_from_slice(&buf[..n]);
    }
    Ok(head)
}

/// The path of a GET request line.
fn request_path(head: &[u8]) -> Option<&str> {
    let line = std::str::from_utf8(head).ok()?.lines().next()?;
    let mut parts = line.split_whitespace();
    (parts.next()? == "GET").then_some(())?;
    parts.next()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_paths() {
        assert_eq!(
            request_path(b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n"),
            Some("/metrics")
        );
        assert_eq!(request_path(b"POST /metrics HTTP/1.1\r\n\r\n"), None);
        assert_eq!(request_path(b"\xff\xfe"), None);
    }

    #[test]
    fn renders_labelled_counters() {
        let m = Metrics::new();
        let labels = CauseLabels {
            cause: "reset".into(),
            layer: "network".into(),
        };
        m.drops.get_or_create(&labels).inc();
        raise_to(&m.pcap_received, 42);
        raise_to(&m.pcap_received, 40);
        let text = m.render();
        assert!(text.contains("dropscope_drops_total{cause=\"reset\",layer=\"network\"} 1"));
        assert!(text.contains("dropscope_pcap_received_total 42"));
    }
}

//! One connection, several vantage points: the connection records of one client id from
//! different probes are grouped by connection (CONNECTs and ends within the clock slack),
//! and one record per real connection comes out.
//!
//! **Where the offline join plugs in.** [`join_views`] receives every view of one real
//! connection, each with its whole record as the probe published it (`raw`, the JSON line).
//! It keeps the record of the better-placed probe ([`better_placed`]), and applies the two
//! rules of the offline join that read the records alone (PINGREQs lost on the path, a RST
//! from the middle). The rest of the join (`src/join/`: matching by sequence numbers, the
//! clock offset, the NAT's mapping) works on the engine's records, which cannot yet be read
//! back from JSON; once they can, it replaces this body.

use super::record::ConnView;
use crate::time::{Span, Timestamp};
use crate::verdict::{Cause, Layer};

/// A view waiting for the other probe's view of the same connection.
#[derive(Debug, Clone)]
pub struct PendingView {
    /// What the fleet correlates.
    pub view: ConnView,
    /// The record as the probe published it.
    pub raw: Box<str>,
    /// When it arrived, in record time.
    pub arrived: Timestamp,
}

/// One real connection, from one or more vantage points.
#[derive(Debug, Clone)]
pub struct JoinedConnection {
    /// The view whose verdict stands for the connection.
    pub view: ConnView,
    /// The probes that saw it, in the order their records arrived.
    pub probes: Vec<String>,
}

impl JoinedConnection {
    /// The verdict's cause (unknown while none).
    pub fn cause(&self) -> Cause {
        self.view.cause.unwrap_or(Cause::Unknown)
    }

    /// The verdict's layer, if known.
    pub fn layer(&self) -> Option<Layer> {
        self.view.layer
    }
}

/// Whether two views from different probes are the same TCP connection: the same client id
/// (the caller's grouping), CONNECTs (or first packets) within the clock slack, and ends
/// within it when both ended.
pub fn same_connection(a: &ConnView, b: &ConnView, slack: Span) -> bool {
    let near = |x: Timestamp, y: Timestamp| (x - y).0.abs() <= slack.0;
    let started = match (a.connect, b.connect) {
        (Some(x), Some(y)) => near(x, y),
        _ => near(a.start, b.start),
    };
    let ended = match (a.end, b.end) {
        (Some(x), Some(y)) => near(x, y),
        _ => true,
    };
    a.probe != b.probe && a.client_id == b.client_id && started && ended
}

/// One record per real connection from its views (one, or one per probe that saw it).
/// **The join of vantage points plugs in here** (see the module's documentation); today
/// the better-placed view's verdict stands.
pub fn join_views(views: &[PendingView]) -> Option<JoinedConnection> {
    let best = views
        .iter()
        .max_by(|a, b| better_placed(&a.view, &b.view))?;
    let mut view = best.view.clone();
    if let Some((cause, layer, side)) = two_view_verdict(views) {
        view.cause = Some(cause);
        view.layer = Some(layer);
        view.side = Some(side.into());
    }
    Some(JoinedConnection {
        view,
        probes: views.iter().map(|v| v.view.probe.clone()).collect(),
    })
}

/// What only two views of one connection tell, read from the records themselves (the
/// rules of `analyze --join` that need no packet): the client sent (PINGREQs marked sent,
/// or retransmitted data) where the broker's view saw a stalled client, so the packets were
/// lost on the path; a RST that one view blames on an end whose own view never sent one
/// came from the middle.
fn two_view_verdict(views: &[PendingView]) -> Option<(Cause, Layer, &'static str)> {
    let records: Vec<serde_json::Value> = views
        .iter()
        .filter_map(|v| serde_json::from_str(&v.raw).ok())
        .collect();
    let at = |vantage: &str| records.iter().find(|r| r["verdict"]["vantage"] == vantage);
    let (client_view, broker_view) = (at("client")?, at("server")?);
    let (cv, bv) = (&client_view["verdict"], &broker_view["verdict"]);
    let client_sent = cv["missing_pingreqs"]
        .as_array()
        .is_some_and(|m| m.iter().any(|p| p["sent"] == true))
        || client_view["tcp"]["client"]["retransmissions"].as_u64() > Some(0);
    if bv["cause"] == "keepalive_timeout" && bv["layer"] == "protocol" && client_sent {
        return Some((Cause::KeepaliveTimeout, Layer::Network, "server"));
    }
    for (seen, other, end) in [(cv, broker_view, "server"), (bv, client_view, "client")] {
        let never_sent = other["tcp"][end]["rst"].is_null() && !other["tcp"].is_null();
        if seen["cause"] == "reset" && seen["side"] == end && never_sent {
            return Some((Cause::Reset, Layer::Network, "middlebox"));
        }
    }
    None
}

/// Orders views by how much their probe could tell: one that saw the end over one that
/// did not, a named cause over `unknown`, a cause with a layer over one without, then the
/// probe's name (so every fleet instance picks the same).
pub fn better_placed(a: &ConnView, b: &ConnView) -> std::cmp::Ordering {
    let rank = |v: &ConnView| {
        (
            v.end.is_some(),
            v.cause.is_some_and(|c| c != Cause::Unknown),
            v.layer.is_some(),
            std::cmp::Reverse(v.probe.clone()),
        )
    };
    rank(a).cmp(&rank(b))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn view(probe: &str, start: i64, end: i64, cause: Cause) -> ConnView {
        ConnView {
            probe: probe.into(),
            conn: 0,
            client_id: Some("dev".into()),
            client: None,
            server: None,
            connect: Some(t(start)),
            start: t(start),
            end: Some(t(end)),
            cause: Some(cause),
            layer: Some(Layer::Network),
            side: None,
        }
    }

    fn t(s: i64) -> Timestamp {
        Timestamp::from_parts(s, 0)
    }

    #[test]
    fn views_of_one_connection_pair_within_the_slack() {
        let slack = Span::from_secs(1);
        let gw = view("gw", 100, 200, Cause::NatIdleExpiry);
        let broker = view("broker", 101, 200, Cause::KeepaliveTimeout);
        assert!(same_connection(&gw, &broker, slack));
        assert!(!same_connection(
            &gw,
            &view("broker", 103, 200, Cause::Reset),
            slack
        ));
        assert!(!same_connection(
            &gw,
            &view("gw", 100, 200, Cause::Reset),
            slack
        ));
    }

    fn pending(v: ConnView, raw: &str) -> PendingView {
        PendingView {
            view: v,
            raw: raw.into(),
            arrived: Timestamp::default(),
        }
    }

    #[test]
    fn pingreqs_sent_at_the_client_and_a_stalled_client_at_the_broker_are_path_loss() {
        let gw = r#"{"verdict":{"vantage":"client","cause":"keepalive_timeout","layer":"network","missing_pingreqs":[{"sent":true}]},"tcp":{"client":{"retransmissions":3}}}"#;
        let broker = r#"{"verdict":{"vantage":"server","cause":"keepalive_timeout","layer":"protocol"},"tcp":{"client":{"retransmissions":0},"server":{"rst":null}}}"#;
        let j = join_views(&[
            pending(view("gw", 100, 200, Cause::KeepaliveTimeout), gw),
            pending(view("broker", 100, 200, Cause::KeepaliveTimeout), broker),
        ])
        .unwrap();
        assert_eq!(
            (j.cause(), j.layer()),
            (Cause::KeepaliveTimeout, Some(Layer::Network))
        );
        // A client that sent nothing: the broker's stalled client stands.
        let silent = r#"{"verdict":{"vantage":"client","cause":"keepalive_timeout","layer":"protocol","missing_pingreqs":[{"sent":false}]},"tcp":{"client":{"retransmissions":0}}}"#;
        let mut stalled = view("broker", 100, 200, Cause::KeepaliveTimeout);
        stalled.layer = Some(Layer::Protocol);
        let j = join_views(&[
            pending(view("gw", 100, 200, Cause::KeepaliveTimeout), silent),
            pending(stalled, broker),
        ])
        .unwrap();
        assert_eq!(j.layer(), Some(Layer::Protocol));
    }

    #[test]
    fn a_rst_the_blamed_end_never_sent_came_from_the_middle() {
        let gw = r#"{"verdict":{"vantage":"client","cause":"reset","side":"server"},"tcp":{"client":{},"server":{"rst":{"frame":9}}}}"#;
        let broker = r#"{"verdict":{"vantage":"server","cause":"keepalive_timeout","layer":"network"},"tcp":{"client":{},"server":{"rst":null}}}"#;
        let j = join_views(&[
            pending(view("gw", 100, 200, Cause::Reset), gw),
            pending(view("broker", 100, 200, Cause::KeepaliveTimeout), broker),
        ])
        .unwrap();
        assert_eq!(j.cause(), Cause::Reset);
        assert_eq!(j.view.side.as_deref(), Some("middlebox"));
    }

    #[test]
    fn the_better_placed_view_stands() {
        let pending = |v: ConnView| pending(v, "{}");
        let mut blind = view("gw", 100, 200, Cause::Unknown);
        blind.layer = None;
        let seeing = view("broker", 100, 200, Cause::KeepaliveTimeout);
        let j = join_views(&[pending(blind), pending(seeing)]).unwrap();
        assert_eq!(j.cause(), Cause::KeepaliveTimeout);
        assert_eq!(j.probes, ["gw", "broker"]);
    }
}

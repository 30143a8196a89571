//! One connection, several vantage points: the connection records of one client id from
//! different probes are grouped by connection (CONNECTs and ends within the clock slack),
//! and one record per real connection comes out.
//!
//! **Where the offline join plugs in.** [`join_views`] receives every view of one real
//! connection, each with its whole record as the probe published it (`raw`, the JSON line).
//! Today it keeps the record of the better-placed probe ([`better_placed`]); the join of two
//! vantage points (the `join` module, `src/join/`) replaces its body: given the two raw
//! records it returns one verdict from both views (PINGREQs lost on the path, a RST from the
//! middle, the NAT's mapping), which `JoinedConnection` then carries instead of the chosen
//! view's.

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
    Some(JoinedConnection {
        view: best.view.clone(),
        probes: views.iter().map(|v| v.view.probe.clone()).collect(),
    })
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

    #[test]
    fn the_better_placed_view_stands() {
        let pending = |v: ConnView| PendingView {
            view: v,
            raw: "{}".into(),
            arrived: Timestamp::default(),
        };
        let mut blind = view("gw", 100, 200, Cause::Unknown);
        blind.layer = None;
        let seeing = view("broker", 100, 200, Cause::KeepaliveTimeout);
        let j = join_views(&[pending(blind), pending(seeing)]).unwrap();
        assert_eq!(j.cause(), Cause::KeepaliveTimeout);
        assert_eq!(j.probes, ["gw", "broker"]);
    }
}

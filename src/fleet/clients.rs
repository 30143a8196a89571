//! State per client id: its recent CONNECTs and server closes as each probe saw them (for
//! takeovers across probes), and the views of its connections waiting for their pair.

use super::record::ConnView;
use super::views::{self, JoinedConnection, PendingView};
use crate::time::{Span, Timestamp};
use std::collections::VecDeque;

/// CONNECTs, server closes, pending views and reported takeovers kept per client id: a
/// client that reconnects faster than this within the state's lifetime loses its oldest
/// (a takeover needs the two latest).
const PER_CLIENT: usize = 8;

/// A takeover no single probe saw whole: the newcomer's CONNECT at one probe, the broker
/// closing the holder at another.
#[derive(Debug, Clone, PartialEq)]
pub struct CrossTakeover {
    /// The newcomer's CONNECT.
    pub newcomer: ConnView,
    /// The connection the broker closed.
    pub holder: ConnView,
}

/// The windows the per-client detectors use.
#[derive(Debug, Clone, Copy)]
pub struct ClientWindows {
    /// A server close this soon after another connection's CONNECT is a takeover.
    pub takeover: Span,
    /// How far two probes' clocks may differ.
    pub slack: Span,
    /// How long a view waits for another probe's view of the same connection.
    pub pair_wait: Span,
}

/// What the fleet knows of one client id.
#[derive(Debug, Default)]
pub struct ClientState {
    /// Latest record time of the client.
    pub last_seen: Timestamp,
    connects: VecDeque<ConnView>,
    closes: VecDeque<ConnView>,
    pending: Vec<PendingView>,
    reported: VecDeque<(String, u64)>,
}

fn push_capped<T>(q: &mut VecDeque<T>, item: T) {
    if q.len() == PER_CLIENT {
        q.pop_front();
    }
    q.push_back(item);
}

fn same(a: &ConnView, b: &ConnView) -> bool {
    a.probe == b.probe && a.conn == b.conn
}

impl ClientState {
    /// Takes a view (record or event) of one of the client's connections; returns the
    /// takeovers it completes.
    pub fn observe(&mut self, v: &ConnView, w: ClientWindows) -> Vec<CrossTakeover> {
        let mut found = Vec::new();
        if v.connect.is_some() && !self.connects.iter().any(|c| same(c, v)) {
            for holder in &self.closes {
                found.extend(takeover(v, holder, &self.connects, w));
            }
            push_capped(&mut self.connects, v.clone());
        }
        if v.closed_by_server() && v.end.is_some() && !self.closes.iter().any(|c| same(c, v)) {
            for newcomer in &self.connects {
                found.extend(takeover(newcomer, v, &self.connects, w));
            }
            push_capped(&mut self.closes, v.clone());
        }
        found.retain(|t| {
            let key = (t.holder.probe.clone(), t.holder.conn);
            let new = !self.reported.contains(&key);
            if new {
                push_capped(&mut self.reported, key);
            }
            new
        });
        found
    }

    /// Takes a connection record; returns the real connection it completes (its pair
    /// arrived), or the oldest waiting one pushed out by the cap.
    pub fn offer(&mut self, p: PendingView, w: ClientWindows) -> Option<JoinedConnection> {
        if self.pending.iter().any(|q| same(&q.view, &p.view)) {
            return None;
        }
        if let Some(i) = self
            .pending
            .iter()
            .position(|q| views::same_connection(&q.view, &p.view, w.slack))
        {
            let first = self.pending.remove(i);
            return views::join_views(&[first, p]);
        }
        self.pending.push(p);
        (self.pending.len() > PER_CLIENT)
            .then(|| self.pending.remove(0))
            .and_then(|single| views::join_views(&[single]))
    }

    /// Views that waited past `pair_wait` by `now` come out alone.
    pub fn expire_pending(&mut self, now: Timestamp, w: ClientWindows) -> Vec<JoinedConnection> {
        let (done, waiting) = std::mem::take(&mut self.pending)
            .into_iter()
            .partition(|p| now - p.arrived > w.pair_wait);
        self.pending = waiting;
        done.into_iter()
            .filter_map(|p| views::join_views(&[p]))
            .collect()
    }

    /// Everything still waiting, alone (the state is being forgotten).
    pub fn take_pending(&mut self) -> Vec<JoinedConnection> {
        std::mem::take(&mut self.pending)
            .into_iter()
            .filter_map(|p| views::join_views(&[p]))
            .collect()
    }
}

/// Whether `newcomer`'s CONNECT took the id from `holder`: seen by different probes, the
/// holder older than the newcomer, closed by the broker within the takeover window of the
/// CONNECT (widened by the clock slack), and the holder's probe did not see a CONNECT of
/// the id in that window itself (then it found the takeover alone).
fn takeover(
    newcomer: &ConnView,
    holder: &ConnView,
    connects: &VecDeque<ConnView>,
    w: ClientWindows,
) -> Option<CrossTakeover> {
    let at = newcomer.connect?;
    let closed = holder.end?;
    let holder_began = holder.connect.unwrap_or(holder.start);
    let in_window =
        |t: Timestamp| t.0 >= at.0 - w.slack.0 && t.0 <= at.0 + w.takeover.0 + w.slack.0;
    let apart = newcomer.probe != holder.probe;
    let older = holder_began.0 + w.slack.0 < at.0;
    let seen_alone = connects.iter().any(|c| {
        c.probe == holder.probe
            && !same(c, holder)
            && c.connect
                .is_some_and(|t| (closed - t).0.abs() <= w.takeover.0)
    });
    (apart && older && in_window(closed) && !seen_alone).then(|| CrossTakeover {
        newcomer: newcomer.clone(),
        holder: holder.clone(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::verdict::{Cause, Layer};

    fn t(ms: i64) -> Timestamp {
        Timestamp::from_parts(0, ms * 1_000_000)
    }

    fn windows() -> ClientWindows {
        ClientWindows {
            takeover: Span::from_secs(2),
            slack: Span::from_secs(1),
            pair_wait: Span::from_secs(30),
        }
    }

    fn conn(probe: &str, conn: u64, connect: i64, end: Option<i64>, cause: Cause) -> ConnView {
        ConnView {
            probe: probe.into(),
            conn,
            client_id: Some("dev".into()),
            client: None,
            server: None,
            connect: Some(t(connect)),
            start: t(connect),
            end: end.map(t),
            cause: Some(cause),
            layer: Some(Layer::Protocol),
            side: Some("server".into()),
        }
    }

    #[test]
    fn a_takeover_split_across_probes_is_found_in_either_order() {
        let holder = conn("broker-a", 0, 1_000, Some(60_300), Cause::ServerClose);
        let newcomer = conn("gw-b", 7, 60_000, None, Cause::OpenAtEnd);
        for order in [[&holder, &newcomer], [&newcomer, &holder]] {
            let mut s = ClientState::default();
            let mut found = s.observe(order[0], windows());
            found.extend(s.observe(order[1], windows()));
            assert_eq!(found.len(), 1, "{order:?}");
            assert_eq!(found[0].holder.conn, 0);
            assert_eq!(found[0].newcomer.probe, "gw-b");
            assert!(s.observe(&holder, windows()).is_empty(), "reported once");
        }
    }

    #[test]
    fn no_takeover_when_one_probe_saw_both_or_the_close_is_late() {
        let holder = conn("a", 0, 1_000, Some(60_300), Cause::ServerClose);
        let mut s = ClientState::default();
        s.observe(&holder, windows());
        assert!(
            s.observe(&conn("a", 1, 60_000, None, Cause::OpenAtEnd), windows())
                .is_empty()
        );
        let mut s = ClientState::default();
        s.observe(&holder, windows());
        assert!(
            s.observe(&conn("b", 1, 50_000, None, Cause::OpenAtEnd), windows())
                .is_empty()
        );
        let mut s = ClientState::default();
        let own_view = conn("b", 4, 1_200, None, Cause::OpenAtEnd);
        s.observe(&own_view, windows());
        assert!(
            s.observe(
                &conn("a", 0, 1_000, Some(2_000), Cause::ServerClose),
                windows()
            )
            .is_empty(),
            "the holder's own CONNECT seen by another probe is no newcomer"
        );
    }

    #[test]
    fn views_pair_or_wait_then_come_out_alone() {
        let p = |v: ConnView, at: i64| PendingView {
            view: v,
            raw: "{}".into(),
            arrived: t(at),
        };
        let mut s = ClientState::default();
        let a = conn("gw", 0, 1_000, Some(9_000), Cause::Unknown);
        let b = conn("broker", 3, 1_400, Some(9_100), Cause::KeepaliveTimeout);
        assert!(s.offer(p(a.clone(), 9_000), windows()).is_none());
        let j = s.offer(p(b, 9_100), windows()).expect("paired");
        assert_eq!(j.probes, ["gw", "broker"]);
        assert!(s.offer(p(a, 10_000), windows()).is_none());
        assert!(s.expire_pending(t(20_000), windows()).is_empty());
        assert_eq!(s.expire_pending(t(41_000), windows()).len(), 1);
    }
}

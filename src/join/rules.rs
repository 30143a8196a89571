//! One verdict from two views of a connection: the rules only two views allow, then the
//! verdict of the view nearer to the side that acted.

use super::VantagePoint;
use super::matching::{self, Group, PairMatch, conn};
use crate::evidence::FrameRef;
use crate::tcp::{Seq, Side};
use crate::time::Timestamp;
use crate::verdict::{Actor, Cause, Judged, Layer, Thresholds, Verdict};
use rustc_hash::FxHashMap;
use serde::Serialize;

/// A fact and the probe that saw it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Seen {
    /// The probe.
    pub vantage: String,
    /// The frame, in that probe's capture.
    pub frame: u64,
    /// What the frame shows.
    pub what: &'static str,
}

/// The verdict of a connection from all its views.
#[derive(Debug, Clone, Serialize)]
pub struct JoinedVerdict {
    /// The taxonomy's cause.
    pub cause: Cause,
    /// The layer to fix.
    pub layer: Option<Layer>,
    /// Who ended it.
    pub side: Option<Actor>,
    /// The rule that decided: a two-view rule, or `view_nearer_the_actor` /
    /// `both_views_agree` when one probe's verdict is kept.
    pub rule: &'static str,
    /// One readable sentence, naming the probes.
    pub explanation: String,
    /// The facts that decided, each with the probe that saw it.
    pub evidence: Vec<Seen>,
}

/// What every rule may read: the probes, their clocks against the first's, and the
/// records that CONNECTed, by client id.
pub(super) struct Context<'a> {
    points: &'a [VantagePoint],
    offsets: &'a [Option<f64>],
    connects: FxHashMap<&'a str, Vec<(usize, usize)>>,
}

impl<'a> Context<'a> {
    /// The context of a join of `points`.
    pub fn new(points: &'a [VantagePoint], offsets: &'a [Option<f64>]) -> Context<'a> {
        let mut connects: FxHashMap<&str, Vec<(usize, usize)>> = FxHashMap::default();
        for (v, p) in points.iter().enumerate() {
            for (i, c) in p.analysis.connections.iter().enumerate() {
                if let (Some(id), Some(_)) = (c.client_id.as_deref(), c.connect) {
                    connects.entry(id).or_default().push((v, i));
                }
            }
        }
        Context {
            points,
            offsets,
            connects,
        }
    }

    /// A capture time of probe `v` on the first probe's clock. A probe that shares no
    /// connection with the others has no estimate: its clock is taken as synchronised
    /// (NTP keeps probes within milliseconds, far inside the takeover window).
    fn on_first_clock(&self, v: usize, t: Timestamp) -> f64 {
        t.as_secs_f64() - self.offsets.get(v).copied().flatten().unwrap_or(0.0)
    }
}

/// The two records of one connection, the client-side one first.
pub(super) struct Views<'a> {
    pub c: &'a Judged,
    pub b: &'a Judged,
    pub c_name: &'a str,
    pub b_name: &'a str,
    /// The broker-side probe's clock minus the client-side probe's, seconds.
    pub offset: Option<f64>,
}

impl Views<'_> {
    /// A fact seen by the probe on `side`'s side (the client-side or the broker-side one).
    fn seen(&self, side: Side, at: FrameRef, what: &'static str) -> Seen {
        let vantage = match side {
            Side::Client => self.c_name,
            Side::Server => self.b_name,
        };
        Seen {
            vantage: vantage.to_string(),
            frame: at.frame(),
            what,
        }
    }

    /// Whether the client sent payload the broker-side probe never saw: by sequence numbers
    /// (clock-free), else by the time of the last data each saw. None when neither tells.
    pub fn client_data_lost(&self) -> Option<bool> {
        let (hc, hb) = (&self.c.tcp.client, &self.b.tcp.client);
        if let (Some((_, sent)), Some((_, arrived))) = (hc.seq_span(), hb.seq_span()) {
            if matching::same_seq_space(hc, hb) {
                return Some(sent.after(arrived));
            }
            if let (Some(c_isn), Some(b_isn)) = (hc.isn, hb.isn) {
                return Some(sent.since(Seq(c_isn)) > arrived.since(Seq(b_isn)));
            }
        }
        let (sent, arrived) = (hc.last_data?.ts, hb.last_data?.ts);
        let arrived = arrived.as_secs_f64() - self.offset?;
        Some(sent.as_secs_f64() > arrived + LATE_SLACK)
    }

    /// Whether the broker closed (FIN or RST at the broker side) and the client-side probe
    /// saw neither.
    fn broker_close_lost(&self) -> bool {
        let (sc, sb) = (&self.c.tcp.server, &self.b.tcp.server);
        (sb.fin.is_some() || sb.rst.is_some()) && sc.fin.is_none() && sc.rst.is_none()
    }
}

/// How much later than the last data seen at the broker side (seconds, clocks aligned) the
/// client's last data must be to count as never delivered, when sequence numbers cannot tell.
const LATE_SLACK: f64 = 0.5;

/// How long before the server's close a newcomer's CONNECT explains it as a takeover.
const TAKEOVER_WINDOW: f64 = 2.0;

/// The joined verdict of one connection seen by two probes.
pub(super) fn judge_pair(ctx: &Context<'_>, g: &Group, pair: &PairMatch) -> JoinedVerdict {
    let [(vc, ic), (vb, ib)] = g.members;
    let views = Views {
        c: conn(ctx.points, vc, ic),
        b: conn(ctx.points, vb, ib),
        c_name: &ctx.points[vc].name,
        b_name: &ctx.points[vb].name,
        offset: pair.offset.as_ref().map(|o| o.seconds_from(vc)),
    };
    judge_views(&views)
        .or_else(|| taken_over_elsewhere(ctx, g, &views))
        .unwrap_or_else(|| better_placed(&views))
}

/// The rules that read both views of one connection.
pub(super) fn judge_views(v: &Views<'_>) -> Option<JoinedVerdict> {
    let lost = v.client_data_lost();
    rst_from_the_middle(v)
        .or_else(|| (lost == Some(true)).then(|| client_data_lost(v)).flatten())
        .or_else(|| (lost == Some(false)).then(|| silent_in_both(v)).flatten())
}

/// A RST in one end's name, the first close its probe saw, that the probe nearer that end
/// never saw it send. (A RST that answers a close already made is its consequence: a NAT
/// answering a FIN for a mapping it forgot.)
fn rst_from_the_middle(v: &Views<'_>) -> Option<JoinedVerdict> {
    for side in [Side::Server, Side::Client] {
        let (far, near, far_name, near_name) = match side {
            Side::Server => (v.c, v.b, v.c_name, v.b_name),
            Side::Client => (v.b, v.c, v.b_name, v.c_name),
        };
        let (Some(rst), None) = (
            far.half(side).rst.as_deref(),
            near.half(side).rst.as_deref(),
        ) else {
            continue;
        };
        if far
            .tcp_end
            .is_some_and(|end| end.at.frame() < rst.at.frame())
        {
            continue;
        }
        if judged_nat_expiry(far) {
            return Some(nat_reset(far_name, near_name, rst.at.frame(), side));
        }
        return Some(JoinedVerdict {
            cause: Cause::Reset,
            layer: Some(Layer::Network),
            side: Some(Actor::Middlebox),
            rule: "rst_sent_by_neither_end",
            explanation: format!(
                "{far_name} saw a RST in the {s}'s name (frame {}), but {near_name}, nearer the {s}, never saw the {s} send one: a device between them forged it.",
                rst.at.frame(),
                s = side.name()
            ),
            evidence: vec![Seen {
                vantage: far_name.to_string(),
                frame: rst.at.frame(),
                what: "rst",
            }],
        });
    }
    None
}

/// Whether a view judged its connection a NAT idle expiry: the RST came after a quiet spell
/// longer than any the connection survived.
fn judged_nat_expiry(j: &Judged) -> bool {
    j.verdict.cause == Cause::NatIdleExpiry
}

/// A forged RST that answered the first packet after a long quiet spell: the NAT (or
/// firewall) between the probes had forgotten the connection and said so.
fn nat_reset(far_name: &str, near_name: &str, frame: u64, side: Side) -> JoinedVerdict {
    JoinedVerdict {
        cause: Cause::NatIdleExpiry,
        layer: Some(Layer::Network),
        side: Some(Actor::Middlebox),
        rule: "nat_mapping_expired_rst_forged",
        explanation: format!(
            "After the connection's longest quiet spell, {far_name} saw a RST in the {s}'s name (frame {frame}) that {near_name}, nearer the {s}, never saw sent: the NAT between them had forgotten the mapping and reset the first packet.",
            s = side.name()
        ),
        evidence: vec![Seen {
            vantage: far_name.to_string(),
            frame,
            what: "rst",
        }],
    }
}

/// The client's data left and never reached the broker.
fn client_data_lost(v: &Views<'_>) -> Option<JoinedVerdict> {
    let (cause, side, rule, why) = lost_reading(v)?;
    let mut evidence = Vec::new();
    if let Some(at) = v.c.tcp.client.last_data {
        let what = "client data that never reached the broker side";
        evidence.push(v.seen(Side::Client, at, what));
    }
    if let Some(at) = v.b.tcp.client.last_data {
        evidence.push(v.seen(Side::Server, at, "the last client data the broker side saw"));
    }
    Some(JoinedVerdict {
        cause,
        layer: Some(Layer::Network),
        side: Some(side),
        rule,
        explanation: format!("Seen from {} and {}: {why}.", v.c_name, v.b_name),
        evidence,
    })
}

/// What lost client data means, by what became of the broker's close: cause, side, rule and
/// why. None when the broker did not close (the view nearer the actor then decides).
fn lost_reading(v: &Views<'_>) -> Option<(Cause, Actor, &'static str, &'static str)> {
    if v.broker_close_lost() && nat_forgot(v) {
        return Some((
            Cause::NatIdleExpiry,
            Actor::Middlebox,
            "nat_mapping_expired_both_ways",
            "after the connection's longest quiet spell, the client's packet never reached the broker and the broker's close never reached the client: the NAT (or firewall) between them had forgotten the connection",
        ));
    }
    if v.broker_close_lost() {
        let (cause, side) = outage_cause(v);
        return Some((
            cause,
            side,
            "path_dark_both_ways",
            "the client's packets stopped reaching the broker and the broker's close never reached the client: the path went dark both ways (an outage)",
        ));
    }
    broker_timed_out(v.b).then_some((
        Cause::KeepaliveTimeout,
        Actor::Server,
        "client_packets_lost_on_path",
        "the client kept sending (PINGREQs or data) but the broker side never saw them, so the broker closed for keepalive: lost on the path, not a stalled client",
    ))
}

/// Whether the first client packet that never arrived ended a quiet spell long enough for a
/// NAT (or firewall) to forget the connection, and clearly longer than any the connection
/// had survived before it (the single-view rule's floor and margin). After a spell like the
/// ones it survived, the path went dark instead. The NAT mapping, when the client's address
/// differs between the probes, shows where the NAT is; a stateful firewall changes no address.
fn nat_forgot(v: &Views<'_>) -> bool {
    let t = Thresholds::default();
    // The last client data that arrived, on the client-side clock (a margin for the
    // estimate); without a clock, every quiet spell the client ended is a candidate.
    let arrived =
        v.b.tcp
            .client
            .last_data
            .zip(v.offset)
            .map_or(f64::MIN, |(at, off)| {
                at.ts.as_secs_f64() - off + ARRIVAL_MARGIN
            });
    let gaps = &v.c.idle_gaps;
    let Some(ended) = gaps
        .iter()
        .filter(|g| g.resumed_by == Side::Client && g.before.ts.as_secs_f64() > arrived)
        .min_by_key(|g| g.before.frame())
    else {
        return false;
    };
    ended.seconds() >= t.nat_gap_floor.as_secs_f64()
        && gaps
            .iter()
            .filter(|g| g.before.frame() < ended.before.frame())
            .all(|g| g.seconds() * t.nat_gap_margin < ended.seconds())
}

/// Margin for the clock estimate and the path delay between the probes when telling a
/// packet that arrived from the next one, which did not, seconds.
const ARRIVAL_MARGIN: f64 = 0.05;

/// Whether the broker closed a client that, from where it stood, had gone silent: its
/// verdict is a keepalive timeout, or (the keepalive unknown, e.g. a capture started after
/// the CONNECT) the broker closed without an MQTT reason (a bare close, a v5 DISCONNECT
/// 0x8D, or what a single view reads as a NAT expiry) and was not shutting down.
fn broker_timed_out(b: &Judged) -> bool {
    let v = &b.verdict;
    let server_closed = b.close().is_some_and(|e| e.by == Side::Server);
    v.cause == Cause::KeepaliveTimeout
        || (server_closed
            && match v.cause {
                Cause::ServerClose | Cause::NatIdleExpiry => true,
                Cause::ServerDisconnect => v.code == Some(0x8D),
                _ => false,
            })
}

/// The cause of an outage: the broker's keepalive close, else the client-side view's
/// reading of a dark path (its outage reading when it judged a NAT expiry).
fn outage_cause(v: &Views<'_>) -> (Cause, Actor) {
    if broker_timed_out(v.b) {
        return (Cause::KeepaliveTimeout, Actor::Server);
    }
    let dark = v.c.outage_reading.as_deref().unwrap_or(&v.c.verdict);
    (dark.cause, dark.side.unwrap_or(Actor::Client))
}

/// The broker closed for keepalive and the client sent nothing it did not get.
fn silent_in_both(v: &Views<'_>) -> Option<JoinedVerdict> {
    if v.b.verdict.cause != Cause::KeepaliveTimeout {
        return None;
    }
    let evidence = [
        v.c.tcp
            .client
            .last_data
            .map(|at| v.seen(Side::Client, at, "the client's last data")),
        v.b.tcp
            .client
            .last_data
            .map(|at| v.seen(Side::Server, at, "the same data, arrived")),
    ];
    Some(JoinedVerdict {
        cause: Cause::KeepaliveTimeout,
        layer: Some(Layer::Protocol),
        side: Some(Actor::Server),
        rule: "client_silent_in_both_views",
        explanation: format!(
            "Everything the client sent at {} reached {}, and then it sent nothing: a stalled client, closed by the broker for keepalive.",
            v.c_name, v.b_name
        ),
        evidence: evidence.into_iter().flatten().collect(),
    })
}

/// The verdict of the view nearer the side that acted.
fn better_placed(v: &Views<'_>) -> JoinedVerdict {
    let (vc, vb) = (&v.c.verdict, &v.b.verdict);
    let client_acted = vc.side == Some(Actor::Client)
        || (vb.side != Some(Actor::Server) && vc.side == Some(Actor::Middlebox));
    let (kept, name) = if client_acted {
        (vc, v.c_name)
    } else {
        (vb, v.b_name)
    };
    let rule = if vc.cause == vb.cause {
        "both_views_agree"
    } else {
        "view_nearer_the_actor"
    };
    from_verdict(kept, name, rule)
}

/// One probe's verdict, kept as the joined one.
pub(super) fn from_verdict(kept: &Verdict, name: &str, rule: &'static str) -> JoinedVerdict {
    JoinedVerdict {
        cause: kept.cause,
        layer: kept.layer,
        side: kept.side,
        rule,
        explanation: format!("As {name} saw it: {}", kept.explanation),
        evidence: kept
            .evidence
            .iter()
            .map(|&frame| Seen {
                vantage: name.to_string(),
                frame,
                what: kept.rule,
            })
            .collect(),
    }
}

/// A server close that another probe explains: a newcomer with the same client id
/// CONNECTed shortly before, seen in a record outside this connection.
fn taken_over_elsewhere(ctx: &Context<'_>, g: &Group, v: &Views<'_>) -> Option<JoinedVerdict> {
    let [(vc, _), (vb, _)] = g.members;
    let (by, at) =
        newcomer(ctx, &g.members, vb, v.b).or_else(|| newcomer(ctx, &g.members, vc, v.c))?;
    Some(taken_over(ctx, by, at))
}

/// Re-judges a record no other probe saw when another probe saw its takeover's newcomer.
pub(super) fn alone(ctx: &Context<'_>, v: usize, i: usize, verdict: &mut Verdict) {
    let Some((by, at)) = newcomer(ctx, &[(v, i)], v, conn(ctx.points, v, i)) else {
        return;
    };
    let j = taken_over(ctx, by, at);
    verdict.cause = j.cause;
    verdict.layer = j.layer;
    verdict.side = j.side;
    verdict.rule = j.rule;
    verdict.explanation = j.explanation;
}

/// The newcomer that explains a server close of `c` (a record of probe `v`): a CONNECT with
/// the same client id at any probe, none of the records of `this`, within the window before
/// the close.
fn newcomer(
    ctx: &Context<'_>,
    this: &[(usize, usize)],
    v: usize,
    c: &Judged,
) -> Option<(usize, FrameRef)> {
    let closed_by_server = matches!(
        c.verdict.cause,
        Cause::ServerClose | Cause::ServerDisconnect
    ) && matches!(c.verdict.code, None | Some(0x8E));
    let id = c.client_id.as_deref().filter(|_| closed_by_server)?;
    let closed = ctx.on_first_clock(v, c.drop_time());
    let others = ctx.connects.get(id)?.iter().filter(|m| !this.contains(m));
    others.copied().find_map(|(w, k)| {
        let at = conn(ctx.points, w, k).connect?;
        let t = ctx.on_first_clock(w, at.ts);
        (t <= closed && closed - t <= TAKEOVER_WINDOW).then_some((w, at))
    })
}

fn taken_over(ctx: &Context<'_>, by: usize, at: FrameRef) -> JoinedVerdict {
    let name = &ctx.points[by].name;
    JoinedVerdict {
        cause: Cause::SessionTakenOver,
        layer: Some(Layer::Protocol),
        side: Some(Actor::Server),
        rule: "closed_after_same_client_id_connected_elsewhere",
        explanation: format!(
            "{name} saw a newcomer CONNECT with the same client id (frame {}) just before the broker closed this connection: a session takeover.",
            at.frame()
        ),
        evidence: vec![Seen {
            vantage: name.clone(),
            frame: at.frame(),
            what: "newcomer CONNECT",
        }],
    }
}

//! Unit tests of the join with hand-built records: matching, the clock, the two-view rules.

use super::matching::match_pair;
use super::rules::{Views, judge_views};
use super::*;
use crate::session::{Connection, TcpEnd, TcpEndKind};
use crate::tcp::{HalfFacts, IdleGap, RstFacts, Side};
use crate::time::Timestamp;
use crate::verdict::{Actor, Cause, Layer, Thresholds};

use crate::evidence::frame_at as at;

/// A connection of client `client` (private or public address), started at `t0` on its
/// probe's clock: SYN at t0, SYN-ACK after `rtt`, client ISN `isn`.
fn record(client: &str, isn: Option<u32>, t0: f64, rtt: f64) -> Connection {
    let mut c = Connection::sample(5);
    c.client = client.parse().unwrap();
    c.start = Timestamp((t0 * 1e9) as i64);
    c.end = Timestamp(((t0 + 10.0) * 1e9) as i64);
    c.tcp.client.isn = isn;
    c.tcp.server.isn = isn.map(|i| i ^ 0x5555);
    c.handshake.syn = isn.map(|_| at(1, t0));
    c.handshake.syn_ack = isn.map(|_| at(2, t0 + rtt));
    c.connect = Some(at(4, t0 + rtt));
    c.syn_seen = isn.is_some();
    c
}

fn judged(c: Connection, cause: Cause, layer: Layer, side: Option<Actor>) -> Judged {
    let mut j = Judged::judge(c, &Thresholds::default());
    j.verdict.cause = cause;
    j.verdict.layer = Some(layer);
    j.verdict.side = side;
    j
}

fn plain(c: Connection) -> Judged {
    judged(c, Cause::OpenAtEnd, Layer::None, None)
}

fn point(name: &str, conns: Vec<Judged>) -> VantagePoint {
    VantagePoint {
        name: name.into(),
        analysis: Analysis {
            captures: vec![format!("{name}.pcap")],
            stats: Default::default(),
            warnings: vec![],
            summary: crate::correlate::summarize(&conns),
            findings: vec![],
            connections: conns,
        },
    }
}

#[test]
fn isn_links_a_connection_across_a_nat_and_not_its_namesake() {
    let a = vec![plain(record("10.0.0.2:40000", Some(1000), 0.0, 0.02))];
    // the same client id reconnected just before: a namesake with another ISN
    let b = vec![
        plain(record("192.0.2.1:61001", Some(77), 5.0, 0.001)),
        plain(record("192.0.2.1:61000", Some(1000), 5.01, 0.001)),
    ];
    let (links, offset) = match_pair(&a, &b);
    assert_eq!(links.len(), 1);
    assert_eq!((links[0].a, links[0].b), (0, 1));
    assert_eq!(links[0].basis, MatchBasis::InitialSequenceNumbers);
    let o = offset.unwrap();
    // SYN 0.0 → 5.01, SYN-ACK 0.02 → 5.011: half the sum of the differences
    assert!((o.seconds - 5.0005).abs() < 1e-9, "{}", o.seconds);
}

#[test]
fn a_different_first_bytes_fingerprint_vetoes_an_isn_match() {
    let mut x = record("10.0.0.2:40000", Some(1000), 0.0, 0.02);
    let mut y = record("192.0.2.1:61000", Some(1000), 0.0, 0.02);
    x.tcp.client.head = Some(1);
    y.tcp.client.head = Some(2);
    y.client_id = Some("other".into());
    let (links, _) = match_pair(&[plain(x)], &[plain(y)]);
    assert!(links.is_empty());
}

#[test]
fn mid_flow_records_link_by_sequence_numbers_then_by_client_id_and_timing() {
    let mid = |client: &str, t0: f64, span: (u32, u32)| {
        let mut c = record(client, None, t0, 0.0);
        c.connect = None;
        c.tcp.client = HalfFacts::covering(span.0, span.1);
        c.tcp.server = HalfFacts::covering(9_000, 9_100);
        c
    };
    let a = vec![plain(mid("10.0.0.2:40000", 0.0, (500, 800)))];
    let b = vec![plain(mid("192.0.2.1:61000", 3.0, (700, 900)))];
    let (links, _) = match_pair(&a, &b);
    assert_eq!(links[0].basis, MatchBasis::SequenceNumbers);
    // no overlap (another connection's numbers): only the client id and a lifetime that
    // overlaps once the clocks agree can join them
    let b = vec![plain(mid("192.0.2.1:61000", 3.0, (5_000, 5_100)))];
    let (links, offset) = match_pair(&a, &b);
    assert_eq!(links[0].basis, MatchBasis::ClientIdAndTiming);
    assert_eq!(offset.unwrap().basis, OffsetBasis::ClientIdStarts);
    let mut other = mid("192.0.2.1:61000", 3.0, (5_000, 5_100));
    other.client_id = Some("someone-else".into());
    assert!(match_pair(&a, &[plain(other)]).0.is_empty());
}

#[test]
fn join_reports_the_nat_mapping_the_clock_and_the_client_side_view_first() {
    let c = plain(record("10.0.0.2:40000", Some(1000), 0.0, 0.02));
    let b = plain(record("192.0.2.1:61000", Some(1000), 2.5, 0.001));
    let mut cj = c;
    cj.verdict.vantage = crate::verdict::Vantage::Client;
    let mut bj = b;
    bj.verdict.vantage = crate::verdict::Vantage::Server;
    // broker probe given first: the joined record still puts the client side first
    let j = join(&[point("broker", vec![bj]), point("gateway", vec![cj])]);
    assert_eq!(j.connections.len(), 1);
    let jc = &j.connections[0];
    assert_eq!(jc.vantages[0].name, "gateway");
    let nat = jc.nat_mapping.unwrap();
    assert_eq!(nat.private.to_string(), "10.0.0.2:40000");
    assert_eq!(nat.public.to_string(), "192.0.2.1:61000");
    // the broker's clock reads 2.49 s ahead of the gateway's (2.5 minus half the 0.019 s
    // difference in SYN-ACK delay)
    assert!((jc.clock_offset.unwrap() - 2.4905).abs() < 1e-9);
    assert_eq!(j.vantages[0].placement, Placement::BrokerSide);
    assert!(j.unmatched.is_empty());
}

/// A client-side and a broker-side record of one connection whose client sent up to
/// `sent` and whose broker got up to `arrived` (sequence numbers), closed by the broker
/// for keepalive.
fn keepalive_pair(sent: u32, arrived: u32) -> (Judged, Judged) {
    let mut c = record("10.0.0.2:40000", Some(1000), 0.0, 0.02);
    let mut b = record("192.0.2.1:61000", Some(1000), 0.0, 0.001);
    c.tcp.client = HalfFacts::covering(1000, sent);
    b.tcp.client = HalfFacts::covering(1000, arrived);
    c.tcp.client.isn = Some(1000);
    b.tcp.client.isn = Some(1000);
    c.tcp.client.last_data = Some(at(28, 11.0));
    b.tcp.client.last_data = Some(at(20, 6.0));
    let fin = at(30, 12.0);
    b.tcp.server.fin = Some(fin);
    c.tcp.server.fin = Some(at(31, 12.0));
    let c = judged(
        c,
        Cause::KeepaliveTimeout,
        Layer::Protocol,
        Some(Actor::Server),
    );
    let b = judged(
        b,
        Cause::KeepaliveTimeout,
        Layer::Protocol,
        Some(Actor::Server),
    );
    (c, b)
}

fn views<'a>(c: &'a Judged, b: &'a Judged) -> Views<'a> {
    Views {
        c,
        b,
        c_name: "gateway",
        b_name: "broker",
        offset: Some(0.0),
    }
}

#[test]
fn pingreqs_that_never_arrived_are_path_loss_and_silence_is_a_stalled_client() {
    let (c, b) = keepalive_pair(1_100, 1_080);
    let v = judge_views(&views(&c, &b)).unwrap();
    assert_eq!(
        (v.cause, v.layer, v.side),
        (
            Cause::KeepaliveTimeout,
            Some(Layer::Network),
            Some(Actor::Server)
        )
    );
    assert_eq!(v.rule, "client_packets_lost_on_path");
    assert!(v.evidence.iter().any(|s| s.vantage == "gateway"));
    // sequence numbers compare across their wrap at 2^31 from the start
    let (c, b) = keepalive_pair(0x8000_0010, 0x7FFF_FFF8);
    assert_eq!(
        judge_views(&views(&c, &b)).unwrap().rule,
        "client_packets_lost_on_path"
    );
    let (c, b) = keepalive_pair(1_080, 1_080);
    let v = judge_views(&views(&c, &b)).unwrap();
    assert_eq!(
        (v.cause, v.layer),
        (Cause::KeepaliveTimeout, Some(Layer::Protocol))
    );
    assert_eq!(v.rule, "client_silent_in_both_views");
}

#[test]
fn a_rst_neither_end_sent_came_from_the_middle_unless_it_answered_a_close() {
    let (mut c, b) = keepalive_pair(1_100, 1_080);
    let rst = RstFacts {
        at: at(25, 6.0),
        ttl: 64,
        ip_id: None,
        seq_offset: Some(0),
    };
    c.connection.tcp.server.rst = Some(Box::new(rst));
    c.connection.tcp_end = Some(TcpEnd {
        kind: TcpEndKind::Rst,
        by: Side::Server,
        at: rst.at,
    });
    let v = judge_views(&views(&c, &b)).unwrap();
    assert_eq!((v.cause, v.side), (Cause::Reset, Some(Actor::Middlebox)));
    assert_eq!(v.evidence[0].frame, 25);
    // the same forged RST answering the first packet after a long quiet spell: a NAT that
    // forgot the mapping (the client-side view judged the spell)
    let mut after_spell = c.clone();
    after_spell.verdict.cause = Cause::NatIdleExpiry;
    let v = judge_views(&views(&after_spell, &b)).unwrap();
    assert_eq!(
        (v.cause, v.side),
        (Cause::NatIdleExpiry, Some(Actor::Middlebox))
    );
    assert_eq!(v.rule, "nat_mapping_expired_rst_forged");
    // the broker sent that RST itself: its own probe saw it
    let mut b2 = b.clone();
    b2.connection.tcp.server.rst = Some(Box::new(rst));
    assert_ne!(judge_views(&views(&c, &b2)).unwrap().cause, Cause::Reset);
    // a RST in the client's name after the broker's FIN answers the close
    let (c, mut b) = keepalive_pair(1_100, 1_080);
    b.connection.tcp.client.rst = Some(Box::new(RstFacts {
        at: at(31, 12.1),
        ..rst
    }));
    b.connection.tcp_end = Some(TcpEnd {
        kind: TcpEndKind::Fin,
        by: Side::Server,
        at: at(30, 12.0),
    });
    assert_ne!(judge_views(&views(&c, &b)).unwrap().cause, Cause::Reset);
}

#[test]
fn both_ways_dark_after_the_longest_quiet_spell_is_a_nat_expiry_else_an_outage() {
    let (mut c, b) = keepalive_pair(1_100, 1_080);
    c.connection.tcp.server.fin = None;
    // the broker side's last client data came at 6.0 s: the spell that ended at 11.0 s
    // ended with a packet that never arrived
    let gap = |secs: f64, ended: f64, frame| IdleGap {
        after: at(frame - 1, ended - secs),
        before: at(frame, ended),
        resumed_by: Side::Client,
    };
    c.connection.idle_gaps = vec![gap(2.0, 4.0, 10), gap(6.0, 11.0, 20)];
    let v = judge_views(&views(&c, &b)).unwrap();
    assert_eq!(
        (v.cause, v.layer, v.side),
        (
            Cause::NatIdleExpiry,
            Some(Layer::Network),
            Some(Actor::Middlebox)
        )
    );
    // the lost packet ended a spell shorter than one the connection survived: an outage
    c.connection.idle_gaps = vec![gap(8.0, 4.0, 10), gap(6.0, 11.0, 20)];
    let v = judge_views(&views(&c, &b)).unwrap();
    assert_eq!(v.rule, "path_dark_both_ways");
    assert_eq!(
        (v.cause, v.layer),
        (Cause::KeepaliveTimeout, Some(Layer::Network))
    );
    // a spell too short for any NAT timeout: an outage too
    c.connection.idle_gaps = vec![gap(1.0, 4.0, 10), gap(1.5, 11.0, 20)];
    let rule = judge_views(&views(&c, &b)).unwrap().rule;
    assert_eq!(rule, "path_dark_both_ways");
    // a stateful firewall changes no address and forgets all the same
    c.connection.idle_gaps = vec![gap(2.0, 4.0, 10), gap(6.0, 11.0, 20)];
    c.connection.client = b.client;
    let cause = judge_views(&views(&c, &b)).unwrap().cause;
    assert_eq!(cause, Cause::NatIdleExpiry);
}

#[test]
fn without_a_two_view_rule_the_view_nearer_the_actor_decides() {
    let c = judged(
        record("10.0.0.2:40000", Some(1000), 0.0, 0.02),
        Cause::ServerClose,
        Layer::Protocol,
        Some(Actor::Server),
    );
    let b = judged(
        record("192.0.2.1:61000", Some(1000), 0.0, 0.001),
        Cause::ServerShutdown,
        Layer::Protocol,
        Some(Actor::Server),
    );
    let j = join(&[point("gateway", vec![c]), point("broker", vec![b])]);
    let v = &j.connections[0].joined_verdict;
    assert_eq!(
        (v.cause, v.rule),
        (Cause::ServerShutdown, "view_nearer_the_actor")
    );
}

#[test]
fn a_takeover_whose_newcomer_another_gateway_saw_is_a_takeover() {
    let mut old = record("10.0.0.2:40000", Some(1000), 0.0, 0.02);
    old.tcp_end = Some(TcpEnd {
        kind: TcpEndKind::Fin,
        by: Side::Server,
        at: at(40, 20.0),
    });
    let old = judged(
        old,
        Cause::ServerClose,
        Layer::Protocol,
        Some(Actor::Server),
    );
    let mut newcomer = record("10.9.0.7:50000", Some(42), 19.0, 0.02);
    newcomer.connect = Some(at(4, 19.6));
    let site_b = point("site-b", vec![plain(newcomer.clone())]);
    let j = join(&[point("site-a", vec![old.clone()]), site_b]);
    assert_eq!(j.connections.len(), 0);
    let v = &j.unmatched[0].verdict;
    assert_eq!(v.cause, Cause::SessionTakenOver, "{v:?}");
    assert!(v.explanation.contains("site-b"));
    // a newcomer long before the close explains nothing
    newcomer.connect = Some(at(4, 10.0));
    let j = join(&[
        point("site-a", vec![old]),
        point("site-b", vec![plain(newcomer)]),
    ]);
    assert_eq!(j.unmatched[0].verdict.cause, Cause::ServerClose);
}

#[test]
fn the_text_table_names_every_probe_and_connection() {
    let (c, b) = keepalive_pair(1_100, 1_080);
    let j = join(&[point("gateway", vec![c]), point("broker", vec![b])]);
    let mut out = Vec::new();
    write_joined_table(&j, &mut out).unwrap();
    let text = String::from_utf8(out).unwrap();
    assert!(text.contains("client_packets_lost_on_path"), "{text}");
    assert!(text.contains("192.0.2.1:61000"), "{text}");
    assert!(text.contains("clock of broker against gateway"), "{text}");
}

#[test]
fn a_syn_ack_lost_between_the_probes_gives_no_clock_sample() {
    // the client-side probe saw only the SYN-ACK's retransmission, a second later
    let mut c = record("10.0.0.2:40000", Some(1000), 0.0, 1.02);
    let mut b = record("192.0.2.1:61000", Some(1000), 3.0005, 0.001);
    c.connect = Some(at(6, 1.03));
    c.connack = c.connack.map(|mut k| {
        k.at = at(7, 1.04);
        k
    });
    b.connect = Some(at(6, 4.0305));
    b.connack = b.connack.map(|mut k| {
        k.at = at(7, 4.0395);
        k
    });
    let samples = super::clock::samples(&c, &b);
    assert_eq!(samples.len(), 1, "{samples:?}");
    assert!((samples[0] - 3.0).abs() < 1e-9, "{samples:?}");
}

#[test]
fn a_firewall_that_rewrites_the_client_isn_still_leaves_the_server_isn() {
    let a = record("10.0.0.2:40000", Some(1000), 0.0, 0.02);
    let mut b = record("192.0.2.1:61000", Some(1000), 0.0, 0.001);
    b.tcp.client.isn = Some(0xdead_beef);
    let (links, _) = match_pair(&[plain(a.clone())], &[plain(b.clone())]);
    assert_eq!(links[0].basis, MatchBasis::InitialSequenceNumbers);
    // both ISNs differ: two connections, whatever their client ids and times say
    b.tcp.server.isn = Some(7);
    assert!(match_pair(&[plain(a)], &[plain(b)]).0.is_empty());
}

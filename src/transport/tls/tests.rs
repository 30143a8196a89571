//! Tests of the TLS transport over hand-built byte sequences (helpers below build the
//! handshake messages; `testdata/server-cert.der` is a self-signed P-256 certificate made
//! once with `openssl req -x509 -newkey ec -subj "/CN=broker.test/O=dropscope" -days 3650`).

use super::*;
use crate::mqtt::PacketKind;
use crate::tcp::TcpEvent;
use crate::time::{Span, Timestamp};

const CERT: &[u8] = include_bytes!("testdata/server-cert.der");

/// The outputs a keyless run gives (no decrypted bytes), owned.
fn owned(o: TlsOutput<'_>) -> Option<TlsOutput<'static>> {
    match o {
        TlsOutput::Inferred(p) => Some(TlsOutput::Inferred(p)),
        TlsOutput::Event(e) => Some(TlsOutput::Event(e)),
        TlsOutput::Plain { .. } | TlsOutput::Gap { .. } => None,
    }
}

fn u16b(v: usize) -> [u8; 2] {
    (v as u16).to_be_bytes()
}

fn rec(ty: u8, body: &[u8]) -> Vec<u8> {
    let mut v = vec![ty, 3, 3];
    v.extend(u16b(body.len()));
    v.extend(body);
    v
}

/// An encrypted record of `len` body bytes.
fn enc(ty: u8, len: usize) -> Vec<u8> {
    rec(ty, &vec![0xa5; len])
}

fn hs(ty: u8, body: &[u8]) -> Vec<u8> {
    let mut v = vec![ty, 0, 0, 0];
    v[1..4].copy_from_slice(&(body.len() as u32).to_be_bytes()[1..]);
    v.extend(body);
    v
}

fn ext(ty: u16, body: &[u8]) -> Vec<u8> {
    let mut v = ty.to_be_bytes().to_vec();
    v.extend(u16b(body.len()));
    v.extend(body);
    v
}

fn client_hello(sni: &str, alpn: &str, tls13: bool) -> Vec<u8> {
    let mut b = vec![3, 3];
    b.extend([7u8; 32]);
    b.push(32);
    b.extend([9u8; 32]); // session id
    b.extend([0, 4, 0x13, 0x01, 0xc0, 0x2f, 1, 0]);
    let mut e = Vec::new();
    let mut name = vec![0];
    name.extend(u16b(sni.len()));
    name.extend(sni.as_bytes());
    let mut list = u16b(name.len()).to_vec();
    list.extend(name);
    e.extend(ext(0, &list));
    let mut p = vec![alpn.len() as u8];
    p.extend(alpn.as_bytes());
    let mut list = u16b(p.len()).to_vec();
    list.extend(p);
    e.extend(ext(16, &list));
    if tls13 {
        e.extend(ext(43, &[4, 3, 4, 3, 3]));
    }
    b.extend(u16b(e.len()));
    b.extend(e);
    hs(1, &b)
}

fn server_hello(suite: u16, session_id: &[u8], exts: &[Vec<u8>], random: [u8; 32]) -> Vec<u8> {
    let mut b = vec![3, 3];
    b.extend(random);
    b.push(session_id.len() as u8);
    b.extend(session_id);
    b.extend(suite.to_be_bytes());
    b.push(0);
    let e: Vec<u8> = exts.concat();
    b.extend(u16b(e.len()));
    b.extend(e);
    hs(2, &b)
}

fn certificate() -> Vec<u8> {
    let mut one = (CERT.len() as u32).to_be_bytes()[1..].to_vec();
    one.extend(CERT);
    let mut b = (one.len() as u32).to_be_bytes()[1..].to_vec();
    b.extend(one);
    hs(11, &b)
}

fn at(frame: u64, ms: i64) -> FrameRef {
    FrameRef::new(frame, Timestamp(ms * 1_000_000))
}

/// One step of a scripted connection.
enum Step {
    D(Side, Vec<u8>),
    Fin(Side),
    Gap(Side, u64),
}
use Step::{D, Fin, Gap};

/// Runs the steps (frame n at n × 10 ms unless `times` says otherwise), each data step
/// split into pieces at `cuts` (all in the same frame), and returns what came out.
fn run_with(
    steps: &[Step],
    start: bool,
    cut: Option<usize>,
) -> (Vec<TlsOutput<'static>>, TlsFacts) {
    let mut t = TlsTransport::new(start);
    let mut got = Vec::new();
    for (i, s) in steps.iter().enumerate() {
        let a = at(i as u64 + 1, 10 * i as i64);
        let mut push = |ev: StreamEvent<'_>| {
            t.on_event(&ev, &KeyLog::default(), &mut |o| got.extend(owned(o)))
        };
        match s {
            D(side, b) => match cut {
                Some(c) if c < b.len() => {
                    push(StreamEvent::Data {
                        side: *side,
                        bytes: &b[..c],
                        at: a,
                    });
                    push(StreamEvent::Data {
                        side: *side,
                        bytes: &b[c..],
                        at: a,
                    });
                }
                _ => push(StreamEvent::Data {
                    side: *side,
                    bytes: b,
                    at: a,
                }),
            },
            Fin(side) => push(StreamEvent::Tcp(TcpEvent {
                at: a,
                side: *side,
                kind: TcpEventKind::Fin,
            })),
            Gap(side, len) => push(StreamEvent::Gap {
                side: *side,
                len: *len,
                at: a,
            }),
        }
    }
    t.finish(&mut |o| got.extend(owned(o)));
    assert!(t.buffered() < 200_000);
    (got, t.facts().clone())
}

fn run(steps: &[Step]) -> (Vec<TlsOutput<'static>>, TlsFacts) {
    run_with(steps, true, None)
}

fn inferred(out: &[TlsOutput]) -> Vec<(u64, Side, PacketKind)> {
    out.iter()
        .filter_map(|o| match o {
            TlsOutput::Inferred(p) => Some((p.at.frame(), p.side, p.kind)),
            _ => None,
        })
        .collect()
}

fn events(out: &[TlsOutput]) -> Vec<(u64, Side, TlsEventKind)> {
    out.iter()
        .filter_map(|o| match o {
            TlsOutput::Event(e) => Some((e.at.frame(), e.side, e.kind)),
            _ => None,
        })
        .collect()
}

use Side::{Client as C, Server as S};

/// A full TLS 1.2 ECDHE-RSA-AES128-GCM connection: handshake, CONNECT/CONNACK, a PINGREQ
/// and PINGRESP, a PUBLISH and its PUBACK, DISCONNECT, close_notify, FIN.
fn tls12() -> Vec<Step> {
    let sid = [5u8; 32];
    let sh = [
        server_hello(
            0xc02f,
            &sid,
            &[ext(16, &[0, 5, 4, b'm', b'q', b't', b't'])],
            [1; 32],
        ),
        certificate(),
        hs(14, &[]),
    ]
    .concat();
    vec![
        D(C, rec(22, &client_hello("broker.test", "mqtt", false))),
        D(S, rec(22, &sh)),
        D(
            C,
            [rec(22, &hs(16, &[0; 66])), rec(20, &[1]), enc(22, 40)].concat(),
        ),
        D(S, [rec(20, &[1]), enc(22, 40)].concat()),
        D(C, enc(23, 24 + 30)),                        // CONNECT, 30 bytes
        D(S, enc(23, 24 + 4)),                         // CONNACK 3.1.1
        D(C, enc(23, 24 + 2)),                         // PINGREQ
        D(S, enc(23, 24 + 2)),                         // PINGRESP
        D(S, enc(23, 24 + 20)),                        // PUBLISH
        D(C, enc(23, 24 + 4)),                         // PUBACK
        D(C, [enc(23, 24 + 2), enc(21, 26)].concat()), // DISCONNECT, close_notify
        Fin(C),
    ]
}

#[test]
fn tls12_handshake_facts() {
    let (out, f) = run(&tls12());
    assert_eq!(f.version, Some(0x0303));
    assert_eq!(f.version_name, Some("TLS 1.2"));
    assert_eq!(f.cipher_suite, Some(0xc02f));
    assert_eq!(
        f.cipher_suite_name,
        Some("TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256")
    );
    assert_eq!(f.sni.as_deref(), Some("broker.test"));
    assert_eq!(f.alpn_offered, ["mqtt"]);
    assert_eq!(f.alpn.as_deref(), Some("mqtt"));
    assert!(!f.resumed);
    let cert = f.server_cert.as_ref().expect("server certificate");
    assert!(cert.subject.contains("CN=broker.test"), "{}", cert.subject);
    assert!(cert.issuer.contains("O=dropscope"));
    assert!(cert.not_after > Timestamp::from_parts(1_900_000_000, 0));
    assert_eq!(f.client_hello.map(|a| a.frame()), Some(1));
    assert_eq!(f.server_hello.map(|a| a.frame()), Some(2));
    assert_eq!(f.handshake_done.map(|a| a.frame()), Some(4));
    assert_eq!(f.handshake_rtt, Some(Span(10_000_000)));
    assert!(f.handshake_complete && !f.closed_in_handshake);
    assert_eq!(f.records.client, 9);
    assert_eq!(
        f.close_notify.client,
        Some(CloseNotifyFact {
            at: at(11, 100),
            guessed: true
        })
    );
    let ev = events(&out);
    assert!(ev.contains(&(4, S, TlsEventKind::HandshakeDone)));
    assert!(ev.contains(&(11, C, TlsEventKind::CloseNotify { guessed: true })));
}

#[test]
fn tls12_inference() {
    let (out, _) = run(&tls12());
    assert_eq!(
        inferred(&out),
        [
            (5, C, PacketKind::Connect),
            (6, S, PacketKind::ConnAck),
            (7, C, PacketKind::PingReq),
            (8, S, PacketKind::PingResp),
            (9, S, PacketKind::Publish),
            (10, C, PacketKind::PubAck),
            (11, C, PacketKind::Disconnect),
        ]
    );
}

#[test]
fn split_at_every_byte_gives_the_same_outputs() {
    let steps = tls12();
    let whole = run(&steps);
    let longest = steps
        .iter()
        .map(|s| if let D(_, b) = s { b.len() } else { 0 })
        .max()
        .unwrap();
    for cut in 1..longest {
        assert_eq!(run_with(&steps, true, Some(cut)), whole, "cut at {cut}");
    }
}

#[test]
fn one_byte_segments_give_the_same_outputs() {
    let steps = tls12();
    let whole = run(&steps);
    let mut t = TlsTransport::new(true);
    let mut got = Vec::new();
    for (i, s) in steps.iter().enumerate() {
        let a = at(i as u64 + 1, 10 * i as i64);
        match s {
            D(side, b) => {
                for byte in b.chunks(1) {
                    let ev = StreamEvent::Data {
                        side: *side,
                        bytes: byte,
                        at: a,
                    };
                    t.on_event(&ev, &KeyLog::default(), &mut |o| got.extend(owned(o)));
                }
            }
            Fin(side) => {
                let ev = StreamEvent::Tcp(TcpEvent {
                    at: a,
                    side: *side,
                    kind: TcpEventKind::Fin,
                });
                t.on_event(&ev, &KeyLog::default(), &mut |o| got.extend(owned(o)));
            }
            Gap(..) => unreachable!(),
        }
    }
    t.finish(&mut |o| got.extend(owned(o)));
    assert_eq!((got, t.facts().clone()), whole);
}

#[test]
fn handshake_message_spanning_records() {
    let msg = client_hello("span.test", "mqtt", false);
    let (a, b) = msg.split_at(20);
    let (_, f) = run(&[D(C, [rec(22, a), rec(22, b)].concat())]);
    assert_eq!(f.sni.as_deref(), Some("span.test"));
    assert_eq!(f.client_hello.map(|a| a.frame()), Some(1));
}

#[test]
fn oversized_handshake_message_is_skipped_not_buffered() {
    // A handshake message declaring 100 KB, sent in records of 16 KB.
    let mut first = vec![11, 0x01, 0x86, 0xa0];
    first.resize(16_000, 0);
    let mut steps = vec![
        D(C, rec(22, &client_hello("a", "mqtt", false))),
        D(S, rec(22, &first)),
    ];
    for _ in 0..6 {
        steps.push(D(S, rec(22, &vec![0; 16_000])));
    }
    steps.push(D(S, rec(22, &hs(14, &[]))));
    let (_, f) = run(&steps);
    assert_eq!(f.oversized_handshakes, 1);
}

#[test]
fn gap_inside_a_known_record_keeps_sync() {
    let mut steps = tls12();
    // The PUBLISH record (49 bytes) loses 30 bytes in the middle: still counted, in sync.
    let publish = enc(23, 44);
    steps[8] = D(S, publish[..10].to_vec());
    steps.insert(9, Gap(S, 30));
    steps.insert(10, D(S, publish[40..].to_vec()));
    let (out, f) = run(&steps);
    assert_eq!(f.resyncs, 0);
    assert_eq!(f.gaps, 1);
    let kinds: Vec<_> = inferred(&out).into_iter().map(|(_, s, k)| (s, k)).collect();
    assert!(kinds.contains(&(S, PacketKind::Publish)));
    assert!(kinds.contains(&(C, PacketKind::PubAck)));
}

#[test]
fn gap_at_a_record_boundary_resyncs_on_a_plausible_header() {
    let mut steps = tls12();
    steps.insert(9, Gap(S, 100));
    // Junk that cannot start a header, then a record.
    steps.insert(
        10,
        D(S, [vec![0x42, 0x17, 0x99], enc(23, 24 + 20)].concat()),
    );
    let (out, f) = run(&steps);
    assert_eq!(f.resyncs, 1);
    assert!(events(&out).contains(&(11, S, TlsEventKind::Resynced)));
}

#[test]
fn unsynced_start_resyncs() {
    let steps = [D(C, [vec![1, 2, 3], enc(23, 40), enc(23, 26)].concat())];
    let (out, f) = run_with(&steps, false, None);
    assert_eq!(f.resyncs, 1);
    assert_eq!(f.records.client, 2);
    assert!(!f.not_tls);
    assert_eq!(events(&out), [(1, C, TlsEventKind::Resynced)]);
}

#[test]
fn plain_mqtt_is_not_tls() {
    let connect = [0x10, 0x0c, 0, 4, b'M', b'Q', b'T', b'T', 4, 2, 0, 60, 0, 0];
    let (out, f) = run(&[D(C, connect.to_vec()), D(S, vec![0x20, 2, 0, 0])]);
    assert!(f.not_tls);
    assert_eq!(events(&out), [(1, C, TlsEventKind::NotTls)]);
}

#[test]
fn resumed_tls12_has_the_server_change_cipher_first() {
    let sid = [9u8; 32]; // the client's session id, echoed
    let (out, f) = run(&[
        D(C, rec(22, &client_hello("r", "mqtt", false))),
        D(
            S,
            [
                rec(22, &server_hello(0xc02f, &sid, &[], [1; 32])),
                rec(20, &[1]),
                enc(22, 40),
            ]
            .concat(),
        ),
        D(C, [rec(20, &[1]), enc(22, 40)].concat()),
        D(C, enc(23, 24 + 20)),
    ]);
    assert!(f.resumed && f.handshake_complete);
    assert_eq!(f.handshake_done.map(|a| a.frame()), Some(3));
    assert_eq!(inferred(&out), [(4, C, PacketKind::Connect)]);
}

#[test]
fn plaintext_alert_to_a_client_hello() {
    let (out, f) = run(&[
        D(C, rec(22, &client_hello("old", "mqtt", false))),
        D(S, rec(21, &[2, 70])),
        Fin(S),
    ]);
    assert_eq!(f.alerts.len(), 1);
    let a = &f.alerts[0];
    assert_eq!(
        (a.side, a.level, a.description, a.encrypted),
        (S, Some(2), Some(70), false)
    );
    assert_eq!(a.name.as_deref(), Some("ProtocolVersion"));
    assert!(f.closed_in_handshake && !f.handshake_complete);
    let alert = TlsEventKind::Alert {
        level: Some(2),
        description: Some(70),
        encrypted: false,
    };
    assert!(events(&out).contains(&(2, S, alert)));
}

#[test]
fn abort_inside_the_handshake_is_recorded() {
    let (_, f) = run(&[D(C, rec(22, &client_hello("x", "mqtt", true))), Fin(C)]);
    assert!(f.closed_in_handshake && !f.handshake_complete);
}

#[test]
fn looks_like_client_hello_on_any_port() {
    let ch = rec(22, &client_hello("x", "mqtt", true));
    assert!(looks_like_client_hello(&ch));
    assert!(looks_like_client_hello(&ch[..6]));
    assert!(!looks_like_client_hello(&ch[..4]));
    assert!(!looks_like_client_hello(&[0x10, 0x0c, 0, 4, b'M', b'Q']));
    assert!(!looks_like_client_hello(&rec(
        22,
        &server_hello(0xc02f, &[], &[], [0; 32])
    )));
    assert!(!looks_like_client_hello(b"GET /mqtt HTTP/1.1\r\n"));
}

#[test]
fn keepalive_from_the_pingreq_cadence() {
    let t = |s: i64| Timestamp::from_parts(s, 0);
    // 60 s keepalive, one ping missed (a 120 s interval).
    let (ka, spread) = infer_keepalive(&[t(0), t(60), t(120), t(240), t(300), t(361)]).unwrap();
    assert_eq!(ka, 60.0);
    assert!(spread <= 1.0);
    assert_eq!(infer_keepalive(&[t(0)]), None);
}

/// A TLS 1.3 (TLS_AES_128_GCM_SHA256) handshake: ClientHello; ServerHello with
/// supported_versions, compatibility change_cipher_spec and the encrypted server flight;
/// the client's change_cipher_spec and Finished (53-byte record), CONNECT in the same frame.
fn tls13_start() -> Vec<Step> {
    let sh = server_hello(0x1301, &[9; 32], &[ext(43, &[3, 4])], [1; 32]);
    vec![
        D(C, rec(22, &client_hello("broker.test", "mqtt", true))),
        D(
            S,
            [
                rec(22, &sh),
                rec(20, &[1]),
                enc(23, 40),
                enc(23, 900),
                enc(23, 300),
                enc(23, 69),
            ]
            .concat(),
        ),
        D(C, [rec(20, &[1]), enc(23, 53), enc(23, 17 + 40)].concat()), // Finished, CONNECT
        D(S, [enc(23, 17 + 220), enc(23, 17 + 220)].concat()),         // two session tickets
        D(S, enc(23, 17 + 4)),                                         // CONNACK
    ]
}

fn kinds(out: &[TlsOutput]) -> Vec<(u64, Side, PacketKind)> {
    inferred(out)
}

#[test]
fn tls13_handshake_and_tickets() {
    let mut steps = tls13_start();
    steps.extend([D(C, enc(23, 19)), D(S, enc(23, 19))]);
    let (out, f) = run(&steps);
    assert_eq!((f.version, f.version_name), (Some(0x0304), Some("TLS 1.3")));
    assert_eq!(f.cipher_suite_name, Some("TLS_AES_128_GCM_SHA256"));
    assert!(f.handshake_complete && !f.resumed);
    assert_eq!(f.handshake_done.map(|a| a.frame()), Some(3));
    assert_eq!(f.tickets, 2);
    assert_eq!(
        kinds(&out),
        [
            (3, C, PacketKind::Connect),
            (5, S, PacketKind::ConnAck),
            (6, C, PacketKind::PingReq),
            (7, S, PacketKind::PingResp),
        ]
    );
}

#[test]
fn tls13_disconnect_and_close_notify_before_fin() {
    // OpenSSL clients: DISCONNECT and close_notify, two 19-byte records, then FIN.
    let mut steps = tls13_start();
    steps.extend([D(C, [enc(23, 19), enc(23, 19)].concat()), Fin(C)]);
    let (out, f) = run(&steps);
    assert_eq!(kinds(&out)[2..], [(6, C, PacketKind::Disconnect)]);
    assert_eq!(
        f.close_notify.client.map(|c| (c.at.frame(), c.guessed)),
        Some((6, true))
    );
    // The same in two frames.
    let mut steps = tls13_start();
    steps.extend([D(C, enc(23, 19)), D(C, enc(23, 19)), Fin(C)]);
    let (out, f) = run(&steps);
    assert_eq!(kinds(&out)[2..], [(6, C, PacketKind::Disconnect)]);
    assert_eq!(f.close_notify.client.map(|c| c.at.frame()), Some(7));
}

#[test]
fn tls13_lone_client_record_before_fin_is_a_disconnect() {
    // paho over Python's ssl: DISCONNECT then FIN, no close_notify.
    let mut steps = tls13_start();
    steps.extend([D(C, enc(23, 19)), Fin(C)]);
    let (out, f) = run(&steps);
    assert_eq!(kinds(&out)[2..], [(6, C, PacketKind::Disconnect)]);
    assert_eq!(f.close_notify.client, None);
}

#[test]
fn tls13_broker_closing_on_disconnect() {
    // The client's DISCONNECT, the broker's close_notify and FIN, the client's close_notify.
    let mut steps = tls13_start();
    steps.extend([
        D(C, enc(23, 19)),
        D(S, enc(23, 19)),
        Fin(S),
        D(C, enc(23, 19)),
        Fin(C),
    ]);
    let (out, f) = run(&steps);
    assert_eq!(kinds(&out)[2..], [(6, C, PacketKind::Disconnect)]);
    assert_eq!(f.close_notify.server.map(|c| c.at.frame()), Some(7));
    assert_eq!(f.close_notify.client.map(|c| c.at.frame()), Some(9));
}

#[test]
fn tls13_pingreq_answered_then_later_close() {
    let mut steps = tls13_start();
    steps.extend([D(C, enc(23, 19)), D(S, enc(23, 19)), D(C, enc(23, 17 + 30))]);
    let (out, _) = run(&steps);
    assert_eq!(
        kinds(&out)[2..],
        [
            (6, C, PacketKind::PingReq),
            (7, S, PacketKind::PingResp),
            (8, C, PacketKind::Publish)
        ]
    );
}

#[test]
fn tls13_server_alert_after_the_handshake_is_not_a_connack() {
    // certificate_required (116) after a client Finished without a certificate.
    let mut steps = tls13_start();
    steps[4] = D(S, enc(23, 19));
    steps.push(Fin(S));
    let (out, f) = run(&steps);
    assert_eq!(kinds(&out), [(3, C, PacketKind::Connect)]);
    assert_eq!(f.alerts.len(), 1);
    assert!(f.alerts[0].encrypted && f.alerts[0].side == S);
    let alert = TlsEventKind::Alert {
        level: None,
        description: None,
        encrypted: true,
    };
    assert!(events(&out).contains(&(5, S, alert)));
}

#[test]
fn tls13_client_alert_in_place_of_finished() {
    let mut steps = tls13_start();
    steps.truncate(2);
    steps.extend([D(C, [rec(20, &[1]), enc(23, 19)].concat()), Fin(C)]);
    let (out, f) = run(&steps);
    assert!(!f.handshake_complete && f.closed_in_handshake);
    assert_eq!(f.alerts.len(), 1);
    assert_eq!((f.alerts[0].side, f.alerts[0].encrypted), (C, true));
    assert!(kinds(&out).is_empty());
}

#[test]
fn tls13_connack_and_close_notify_in_one_frame() {
    // A refused CONNECT: CONNACK and close_notify together, then FIN.
    let mut steps = tls13_start();
    steps[4] = D(S, [enc(23, 17 + 4), enc(23, 19)].concat());
    steps.push(Fin(S));
    let (out, f) = run(&steps);
    assert_eq!(
        kinds(&out),
        [(3, C, PacketKind::Connect), (5, S, PacketKind::ConnAck)]
    );
    assert_eq!(f.close_notify.server.map(|c| c.at.frame()), Some(5));
    assert!(f.alerts.is_empty());
}

#[test]
fn hello_retry_request_restarts() {
    let hrr_random = [
        0xcf, 0x21, 0xad, 0x74, 0xe5, 0x9a, 0x61, 0x11, 0xbe, 0x1d, 0x8c, 0x02, 0x1e, 0x65, 0xb8,
        0x91, 0xc2, 0xa2, 0x11, 0x16, 0x7a, 0xbb, 0x8c, 0x5e, 0x07, 0x9e, 0x09, 0xe2, 0xc8, 0xa8,
        0x33, 0x9c,
    ];
    let mut steps = vec![
        D(C, rec(22, &client_hello("hrr.test", "mqtt", true))),
        D(
            S,
            rec(
                22,
                &server_hello(0x1301, &[9; 32], &[ext(43, &[3, 4])], hrr_random),
            ),
        ),
    ];
    steps.extend(tls13_start());
    let (out, f) = run(&steps);
    assert!(f.hello_retry && f.handshake_complete);
    assert_eq!(f.client_hello.map(|a| a.frame()), Some(3));
    assert_eq!(f.server_hello.map(|a| a.frame()), Some(4));
    assert!(events(&out).contains(&(2, S, TlsEventKind::HelloRetryRequest)));
}

#[test]
fn tls13_resumption_is_the_pre_shared_key() {
    let sh = server_hello(
        0x1301,
        &[9; 32],
        &[ext(43, &[3, 4]), ext(41, &[0, 0])],
        [1; 32],
    );
    let (_, f) = run(&[
        D(C, rec(22, &client_hello("r", "mqtt", true))),
        D(S, rec(22, &sh)),
    ]);
    assert!(f.resumed);
}

#[test]
fn a_packet_split_over_records_in_one_frame_is_one_write() {
    let mut steps = tls13_start();
    // A PUBLISH sent as a 2-byte fixed header record and a 40-byte rest.
    steps.push(D(C, [enc(23, 19), enc(23, 17 + 40)].concat()));
    let (out, _) = run(&steps);
    let last = out.iter().rev().find_map(|o| match o {
        TlsOutput::Inferred(p) => Some(*p),
        _ => None,
    });
    let p = last.unwrap();
    assert_eq!(
        (p.at.frame(), p.kind, p.len),
        (6, PacketKind::Publish, PlainLen::Exact(42))
    );
}

#[test]
fn tls12_encrypted_alert_without_close_is_an_alert() {
    let mut steps = tls12();
    steps.truncate(8);
    steps.push(D(S, enc(21, 26)));
    steps.push(D(S, enc(23, 24 + 20)));
    let (out, f) = run(&steps);
    assert_eq!(f.close_notify.server, None);
    let alert = TlsEventKind::Alert {
        level: None,
        description: None,
        encrypted: true,
    };
    assert!(events(&out).contains(&(9, S, alert)));
}

#[test]
fn tls13_client_close_notify_answering_the_brokers() {
    // DISCONNECT, the broker's close_notify, the client's at once, then the broker's FIN.
    let mut steps = tls13_start();
    steps.extend([
        D(C, enc(23, 19)),
        D(S, enc(23, 19)),
        D(C, enc(23, 19)),
        Fin(S),
    ]);
    let (out, f) = run(&steps);
    assert_eq!(kinds(&out)[2..], [(6, C, PacketKind::Disconnect)]);
    assert_eq!(f.close_notify.server.map(|c| c.at.frame()), Some(7));
    assert_eq!(f.close_notify.client.map(|c| c.at.frame()), Some(8));
}

#[test]
fn tls13_three_records_in_one_frame_are_three_packets() {
    // mosquitto: PUBLISH, PUBACK, PUBLISH from the broker in one segment.
    let mut steps = tls13_start();
    steps.extend([
        D(C, enc(23, 17 + 30)),
        D(
            S,
            [enc(23, 17 + 44), enc(23, 17 + 4), enc(23, 17 + 128)].concat(),
        ),
    ]);
    let (out, _) = run(&steps);
    assert_eq!(
        kinds(&out)[3..],
        [
            (7, S, PacketKind::Publish),
            (7, S, PacketKind::PubAck),
            (7, S, PacketKind::Publish)
        ]
    );
}

#[test]
fn tls12_disconnect_then_encrypted_alert_then_the_peer_closes() {
    let mut steps = tls12();
    steps.truncate(8);
    steps.extend([
        D(C, enc(23, 24 + 2)),
        D(S, enc(21, 26)),
        D(C, enc(21, 26)),
        Fin(S),
    ]);
    let (out, f) = run(&steps);
    assert_eq!(inferred(&out).last(), Some(&(9, C, PacketKind::Disconnect)));
    assert_eq!(f.close_notify.server.map(|c| c.at.frame()), Some(10));
}

#[test]
fn tls13_server_alert_before_the_clients_first_write_is_an_alert() {
    // certificate_required after the client's Finished, the client's CONNECT already on
    // its way: the alert comes first, then the CONNECT, then the broker's close.
    let mut steps: Vec<Step> = tls13_start().into_iter().take(2).collect();
    steps.extend([
        D(C, [rec(20, &[1]), enc(23, 53)].concat()),
        D(S, enc(23, 19)),
        D(C, enc(23, 17 + 40)),
        Fin(S),
    ]);
    let (out, f) = run(&steps);
    assert_eq!(kinds(&out), [(5, C, PacketKind::Connect)]);
    assert_eq!(f.alerts.len(), 1);
    assert!(f.alerts[0].encrypted && f.alerts[0].side == S && f.alerts[0].at.frame() == 4);
}

#[test]
fn a_small_write_long_after_a_qos0_publish_is_a_disconnect_not_its_ack() {
    // The broker forwards a PUBLISH (QoS 0: no ack); the client's 4-byte write before its
    // FIN is a 5.0 DISCONNECT when it comes long after, the PUBLISH's PUBACK when at once.
    let last_kind = |idle_steps: usize| {
        let mut steps = tls13_start();
        steps.push(D(S, enc(23, 17 + 30)));
        steps.extend((0..idle_steps).map(|_| D(C, Vec::new())));
        steps.extend([D(C, enc(23, 17 + 4)), Fin(C)]);
        let (out, _) = run(&steps);
        kinds(&out).last().map(|k| k.2)
    };
    assert_eq!(last_kind(150), Some(PacketKind::Disconnect));
    assert_eq!(last_kind(0), Some(PacketKind::PubAck));
}

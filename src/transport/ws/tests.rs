use super::*;
use crate::time::Timestamp;
use crate::transport::tls::PerSide;
use flate2::{Compress, Compression, FlushCompress};
use proptest::prelude::*;

const C: Side = Side::Client;
const S: Side = Side::Server;

const CONNECT: &[u8] = &[0x10, 0x0c, 0, 4, b'M', b'Q', b'T', b'T', 4, 2, 0, 60, 0, 0];
const CONNACK: &[u8] = &[0x20, 2, 0, 0];
const PINGREQ: &[u8] = &[0xc0, 0];
const PINGRESP: &[u8] = &[0xd0, 0];
const DISCONNECT: &[u8] = &[0xe0, 0];
const KEY: [u8; 4] = [0x37, 0xfa, 0x21, 0x3d];

fn at(frame: u64) -> FrameRef {
    FrameRef::new(frame, Timestamp(frame as i64 * 1_000_000))
}

fn request(protocols: &str, extensions: &str) -> Vec<u8> {
    let mut r = String::from(
        "GET /mqtt HTTP/1.1\r\nHost: broker.example:8080\r\nUpgrade: websocket\r\n\
         Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\
         Sec-WebSocket-Version: 13\r\n",
    );
    if !protocols.is_empty() {
        r += &format!("Sec-WebSocket-Protocol: {protocols}\r\n");
    }
    if !extensions.is_empty() {
        r += &format!("Sec-WebSocket-Extensions: {extensions}\r\n");
    }
    (r + "\r\n").into_bytes()
}

fn response(protocol: &str, extensions: &str) -> Vec<u8> {
    let mut r = String::from(
        "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n",
    );
    if !protocol.is_empty() {
        r += &format!("Sec-WebSocket-Protocol: {protocol}\r\n");
    }
    if !extensions.is_empty() {
        r += &format!("Sec-WebSocket-Extensions: {extensions}\r\n");
    }
    (r + "\r\n").into_bytes()
}

/// A frame: `b0` is FIN/RSV/opcode, masked with `mask` when given.
fn frame(b0: u8, mask: Option<[u8; 4]>, payload: &[u8]) -> Vec<u8> {
    let mut f = vec![b0];
    let m = if mask.is_some() { 0x80 } else { 0 };
    match payload.len() {
        n @ 0..=125 => f.push(m | n as u8),
        n @ 126..=0xffff => {
            f.push(m | 126);
            f.extend_from_slice(&(n as u16).to_be_bytes());
        }
        n => {
            f.push(m | 127);
            f.extend_from_slice(&(n as u64).to_be_bytes());
        }
    }
    match mask {
        Some(k) => {
            f.extend_from_slice(&k);
            f.extend(payload.iter().enumerate().map(|(i, b)| b ^ k[i % 4]));
        }
        None => f.extend_from_slice(payload),
    }
    f
}

/// A client binary frame (masked).
fn cbin(payload: &[u8]) -> Vec<u8> {
    frame(0x82, Some(KEY), payload)
}

/// A server binary frame.
fn sbin(payload: &[u8]) -> Vec<u8> {
    frame(0x82, None, payload)
}

fn close_payload(code: u16, reason: &str) -> Vec<u8> {
    let mut p = code.to_be_bytes().to_vec();
    p.extend_from_slice(reason.as_bytes());
    p
}

/// What one side produced, in order; adjacent bytes merged so chunking does not show.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Item {
    Bytes(Vec<u8>),
    Gap(u64),
    Event(WsEventKind),
}

#[derive(Debug, Default, Clone, PartialEq, Eq)]
struct Got {
    items: [Vec<Item>; 2],
    events: Vec<WsEvent>,
}

impl Got {
    fn take(&mut self, o: WsOutput<'_>) {
        match o {
            WsOutput::Mqtt { side, bytes, .. } => {
                assert!(!bytes.is_empty(), "empty MQTT output");
                match self.items[side.idx()].last_mut() {
                    Some(Item::Bytes(b)) => b.extend_from_slice(bytes),
                    _ => self.items[side.idx()].push(Item::Bytes(bytes.to_vec())),
                }
            }
            WsOutput::Gap { side, len, .. } => match self.items[side.idx()].last_mut() {
                Some(Item::Gap(n)) => *n += len,
                _ => self.items[side.idx()].push(Item::Gap(len)),
            },
            WsOutput::Event(e) => {
                self.items[e.side.idx()].push(Item::Event(e.kind.clone()));
                self.events.push(e);
            }
        }
    }

    /// All MQTT bytes of a side.
    fn mqtt(&self, side: Side) -> Vec<u8> {
        self.items[side.idx()]
            .iter()
            .filter_map(|i| match i {
                Item::Bytes(b) => Some(b.clone()),
                _ => None,
            })
            .collect::<Vec<_>>()
            .concat()
    }

    fn gaps(&self, side: Side) -> Vec<u64> {
        self.items[side.idx()]
            .iter()
            .filter_map(|i| match i {
                Item::Gap(n) => Some(*n),
                _ => None,
            })
            .collect()
    }

    fn kinds(&self, side: Side) -> Vec<WsEventKind> {
        self.events
            .iter()
            .filter(|e| e.side == side)
            .map(|e| e.kind.clone())
            .collect()
    }
}

/// One step of a connection.
#[derive(Debug, Clone)]
enum Step {
    Data(Side, Vec<u8>),
    Gap(Side, u64),
    Closed(Side),
}

/// Feeds steps, each a new frame, into a new reader.
fn run(steps: &[Step]) -> (WsTransport, Got) {
    let mut t = WsTransport::new();
    let mut got = Got::default();
    for (i, s) in steps.iter().enumerate() {
        let a = at(i as u64 + 1);
        let mut out = |o: WsOutput<'_>| got.take(o);
        match s {
            Step::Data(side, b) => t.data(*side, b, a, &mut out),
            Step::Gap(side, n) => t.gap(*side, *n, a, &mut out),
            Step::Closed(side) => t.closed(*side, a, &mut out),
        }
        assert!(t.buffered() <= 2 * MAX_HEAD + MAX_EARLY + 2 * (14 + 125));
    }
    (t, got)
}

/// An open connection (request and 101 with `protocol` and `extensions`), then `steps`.
fn session(protocol: &str, extensions: &str, steps: Vec<Step>) -> (WsTransport, Got) {
    let mut all = vec![
        Step::Data(C, request(protocol, extensions)),
        Step::Data(S, response(protocol, extensions)),
    ];
    all.extend(steps);
    run(&all)
}

/// Each data step split in two at every position: the per-side items must not change.
fn assert_split_invariant(steps: &[Step], whole: &Got) {
    for (i, s) in steps.iter().enumerate() {
        let Step::Data(side, b) = s else { continue };
        for k in 1..b.len() {
            let mut split = steps[..i].to_vec();
            split.push(Step::Data(*side, b[..k].to_vec()));
            split.push(Step::Data(*side, b[k..].to_vec()));
            split.extend_from_slice(&steps[i + 1..]);
            let (_, got) = run(&split);
            assert_eq!(got.items, whole.items, "step {i} split at {k}");
        }
    }
}

fn mqtt_session() -> Vec<Step> {
    vec![
        Step::Data(C, request("mqtt", "")),
        Step::Data(S, response("mqtt", "")),
        Step::Data(C, cbin(CONNECT)),
        Step::Data(S, sbin(CONNACK)),
        Step::Data(C, cbin(PINGREQ)),
        Step::Data(S, sbin(PINGRESP)),
        Step::Data(
            C,
            [
                cbin(DISCONNECT),
                frame(0x88, Some(KEY), &close_payload(1000, "bye")),
            ]
            .concat(),
        ),
        Step::Data(S, frame(0x88, None, &close_payload(1000, ""))),
        Step::Closed(S),
        Step::Closed(C),
    ]
}

#[test]
fn session_whole_and_split_at_every_byte() {
    let steps = mqtt_session();
    let (t, got) = run(&steps);
    assert_eq!(got.mqtt(C), [CONNECT, PINGREQ, DISCONNECT].concat());
    assert_eq!(got.mqtt(S), [CONNACK, PINGRESP].concat());
    assert_eq!(got.kinds(S)[0], WsEventKind::Upgrade { status: 101 });
    let close = |code, reason: &str| WsEventKind::Close {
        code: Some(code),
        reason: reason.into(),
    };
    assert_eq!(got.kinds(C), vec![close(1000, "bye")]);
    assert_eq!(got.kinds(S)[1..], [close(1000, "")]);
    let f = t.facts();
    assert_eq!(f.path.as_deref(), Some("/mqtt"));
    assert_eq!(f.host.as_deref(), Some("broker.example:8080"));
    assert_eq!(f.subprotocol_offered, ["mqtt"]);
    assert_eq!(f.subprotocol.as_deref(), Some("mqtt"));
    assert_eq!(
        (f.status, f.request, f.response),
        (Some(101), Some(at(1)), Some(at(2)))
    );
    assert_eq!((f.frames.client, f.frames.server), (4, 3));
    assert_eq!((f.messages.client, f.messages.server), (3, 2));
    assert_eq!(
        f.closes.client.as_ref().map(|c| (c.at, c.code)),
        Some((at(7), Some(1000)))
    );
    assert_eq!(f.closes.server.as_ref().map(|c| c.at), Some(at(8)));
    assert_eq!(f.closed_without_close_frame, PerSide::default());
    assert_eq!(f.errors, PerSide::default());
    assert!(!t.is_not_mqtt());
    assert_eq!(t.buffered(), 0);
    assert_split_invariant(&steps, &got);
}

#[test]
fn client_stream_before_the_response_is_held_then_read() {
    let steps = mqtt_session();
    let client: Vec<u8> = steps
        .iter()
        .filter_map(|s| match s {
            Step::Data(C, b) => Some(b.clone()),
            _ => None,
        })
        .collect::<Vec<_>>()
        .concat();
    let server: Vec<u8> = steps
        .iter()
        .filter_map(|s| match s {
            Step::Data(S, b) => Some(b.clone()),
            _ => None,
        })
        .collect::<Vec<_>>()
        .concat();
    let (_, whole) = run(&steps);
    for k in 0..client.len() {
        let (t, got) = run(&[
            Step::Data(C, client[..k].to_vec()),
            Step::Data(C, client[k..].to_vec()),
            Step::Data(S, server.clone()),
        ]);
        assert_eq!(got.items, whole.items, "client split at {k}");
        assert_eq!(t.buffered(), 0);
    }
}

#[test]
fn masking_offset_survives_any_three_way_split() {
    let payload: Vec<u8> = (0u8..23).map(|i| i.wrapping_mul(37)).collect();
    let f = cbin(&payload);
    for i in 1..f.len() {
        for j in i..f.len() {
            let (_, got) = session(
                "mqtt",
                "",
                vec![
                    Step::Data(C, f[..i].to_vec()),
                    Step::Data(C, f[i..j].to_vec()),
                    Step::Data(C, f[j..].to_vec()),
                ],
            );
            assert_eq!(got.mqtt(C), payload, "split at {i}, {j}");
        }
    }
}

#[test]
fn sixteen_and_sixty_four_bit_lengths() {
    let mid: Vec<u8> = (0..300u32).map(|i| (i * 7) as u8).collect();
    let big: Vec<u8> = (0..70_000u32).map(|i| (i ^ (i >> 9)) as u8).collect();
    let (cf, sf) = (cbin(&big), sbin(&mid));
    assert_eq!((cf[1], sf[1]), (0x80 | 127, 126));
    let chunks: Vec<Step> = cf.chunks(1460).map(|c| Step::Data(C, c.to_vec())).collect();
    let mut steps = vec![Step::Data(S, sf)];
    steps.extend(chunks);
    let (t, got) = session("mqtt", "", steps);
    assert_eq!(got.mqtt(C), big);
    assert_eq!(got.mqtt(S), mid);
    assert_eq!(t.facts().errors, PerSide::default());
}

/// A PUBLISH (QoS 0, topic "t/1", payload "hello world").
fn publish() -> Vec<u8> {
    let mut p = vec![0x30, 16, 0, 3, b't', b'/', b'1'];
    p.extend_from_slice(b"hello world");
    p
}

#[test]
fn one_packet_in_three_frames_with_a_ping_between() {
    let p = publish();
    let steps = vec![
        Step::Data(C, frame(0x02, Some(KEY), &p[..5])),
        Step::Data(C, frame(0x89, Some(KEY), b"are you there")),
        Step::Data(C, frame(0x00, Some([1, 2, 3, 4]), &p[5..9])),
        Step::Data(C, frame(0x80, Some([9, 8, 7, 6]), &p[9..])),
        Step::Data(S, frame(0x8a, None, b"are you there")),
    ];
    let (t, got) = session("mqtt", "", steps);
    assert_eq!(got.mqtt(C), p);
    assert_eq!(
        got.items[0],
        vec![
            Item::Bytes(p[..5].to_vec()),
            Item::Event(WsEventKind::Ping),
            Item::Bytes(p[5..].to_vec())
        ]
    );
    let f = t.facts();
    assert_eq!(
        (f.frames.client, f.messages.client, f.pings.client),
        (4, 1, 1)
    );
    assert_eq!((f.pongs.server, f.unanswered_pings.client), (1, 0));
    assert_eq!(
        (f.last_ping.client, f.last_pong.server),
        (Some(at(4)), Some(at(7)))
    );
    assert_eq!(f.errors, PerSide::default());
}

#[test]
fn several_packets_in_one_frame_pass_unchanged() {
    let packets = [CONNACK, &publish(), PINGRESP, &publish()].concat();
    let (_, got) = session("mqtt", "", vec![Step::Data(S, sbin(&packets))]);
    assert_eq!(got.mqtt(S), packets);
}

#[test]
fn unanswered_pings_count_until_a_pong() {
    let ping = frame(0x89, None, b"");
    let steps = vec![
        Step::Data(S, ping.clone()),
        Step::Data(S, ping.clone()),
        Step::Data(S, ping),
    ];
    let (t, _) = session("mqtt", "", steps);
    assert_eq!(t.facts().unanswered_pings.server, 3);
    assert_eq!(t.facts().last_ping.server, Some(at(5)));
}

#[test]
fn close_codes_and_reasons() {
    for (code, reason) in [
        (1000, "normal"),
        (1001, "going away"),
        (1002, "protocol error"),
        (1008, "policy violation: not authorized"),
    ] {
        let steps = vec![
            Step::Data(S, frame(0x88, None, &close_payload(code, reason))),
            Step::Data(C, frame(0x88, Some(KEY), &close_payload(code, ""))),
        ];
        let (t, got) = session("mqtt", "", steps);
        let f = t.facts();
        let s = f.closes.server.as_ref().expect("server close");
        assert_eq!(
            (s.code, s.reason.as_str(), s.at),
            (Some(code), reason, at(3))
        );
        assert_eq!(f.closes.client.as_ref().and_then(|c| c.code), Some(code));
        assert!(got.kinds(S).contains(&WsEventKind::Close {
            code: Some(code),
            reason: reason.into()
        }));
    }
}

#[test]
fn empty_and_one_byte_close_payloads() {
    let steps = vec![
        Step::Data(S, frame(0x88, None, b"")),
        Step::Data(C, frame(0x88, Some(KEY), b"x")),
    ];
    let (t, _) = session("mqtt", "", steps);
    let f = t.facts();
    assert_eq!(f.closes.server.as_ref().map(|c| c.code), Some(None));
    assert_eq!(f.closes.client.as_ref().map(|c| c.code), Some(None));
    assert_eq!(f.first_errors[0].error, WsError::BadClosePayload);
}

#[test]
fn tcp_close_without_close_frame_is_recorded_once() {
    let steps = vec![
        Step::Data(S, frame(0x88, None, &close_payload(1011, ""))),
        Step::Closed(S),
        Step::Closed(C),
        Step::Closed(C),
    ];
    let (t, got) = session("mqtt", "", steps);
    let f = t.facts();
    assert_eq!(
        f.closed_without_close_frame,
        PerSide {
            client: true,
            server: false
        }
    );
    assert_eq!(got.kinds(C), vec![WsEventKind::ClosedWithoutCloseFrame]);
}

fn refused(status_line: &str) -> (WsTransport, Got) {
    let resp = format!(
        "HTTP/1.1 {status_line}\r\nContent-Type: text/plain\r\nContent-Length: 12\r\n\r\nUnauthorized"
    );
    run(&[
        Step::Data(C, request("mqtt", "")),
        Step::Data(S, resp.into_bytes()),
        Step::Data(C, cbin(CONNECT)),
        Step::Closed(S),
    ])
}

#[test]
fn refused_upgrade_401_and_426() {
    for (line, code) in [("401 Unauthorized", 401), ("426 Upgrade Required", 426)] {
        let (t, got) = refused(line);
        let f = t.facts();
        assert_eq!(f.status, Some(code));
        assert_eq!(got.kinds(S), vec![WsEventKind::Upgrade { status: code }]);
        assert!(got.mqtt(C).is_empty() && got.mqtt(S).is_empty());
        assert!(!t.is_not_mqtt());
        assert_eq!(f.closed_without_close_frame, PerSide::default());
        assert_eq!(t.buffered(), 0);
    }
}

#[test]
fn interim_response_then_101() {
    let resp = [
        b"HTTP/1.1 100 Continue\r\n\r\n".to_vec(),
        response("mqtt", ""),
    ]
    .concat();
    let (t, got) = run(&[
        Step::Data(C, request("mqtt", "")),
        Step::Data(S, [resp, sbin(CONNACK)].concat()),
    ]);
    assert_eq!(t.facts().status, Some(101));
    assert_eq!(got.mqtt(S), CONNACK);
}

#[test]
fn older_subprotocol_mqttv3_1() {
    let (t, got) = session("mqttv3.1", "", vec![Step::Data(C, cbin(CONNECT))]);
    assert_eq!(t.facts().subprotocol.as_deref(), Some("mqttv3.1"));
    assert!(!t.is_not_mqtt());
    assert_eq!(got.mqtt(C), CONNECT);
}

#[test]
fn several_offered_one_chosen() {
    let (t, _) = run(&[
        Step::Data(C, request("mqtt, mqttv3.1", "")),
        Step::Data(S, response("mqtt", "")),
    ]);
    assert_eq!(t.facts().subprotocol_offered, ["mqtt", "mqttv3.1"]);
    assert!(!t.is_not_mqtt());
}

#[test]
fn not_mqtt_flows() {
    let cases: [(Vec<Step>, NotMqtt); 5] = [
        (
            vec![Step::Data(
                C,
                b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03".to_vec(),
            )],
            NotMqtt::NotHttp,
        ),
        (
            vec![Step::Data(C, b"GET / HTTP/1.1\r\nHost: x\r\n\r\n".to_vec())],
            NotMqtt::NoUpgrade,
        ),
        (
            // Another subprotocol on a path that does not name MQTT (on `/mqtt`, or with
            // `mqttv5` offered, it is MQTT's: a broker may refuse it).
            vec![Step::Data(
                C,
                String::from_utf8(request("graphql-ws", ""))
                    .unwrap()
                    .replace("/mqtt", "/graphql")
                    .into_bytes(),
            )],
            NotMqtt::OtherSubprotocol,
        ),
        (
            vec![
                Step::Data(C, request("", "")),
                Step::Data(S, response("wamp", "")),
            ],
            NotMqtt::OtherSubprotocol,
        ),
        (
            vec![
                Step::Data(C, request("mqtt", "")),
                Step::Data(S, b"SSH-2.0-OpenSSH\r\n\r\n".to_vec()),
            ],
            NotMqtt::NotHttp,
        ),
    ];
    for (steps, why) in cases {
        let (t, got) = run(&steps);
        assert!(t.is_not_mqtt(), "{steps:?}");
        assert_eq!(t.facts().not_mqtt, Some(why), "{steps:?}");
        assert!(got.events.is_empty());
        assert_eq!(t.buffered(), 0);
    }
}

#[test]
fn garbage_is_told_before_a_head_ends() {
    let (t, _) = run(&[Step::Data(C, b"GET /\x00\x01\x02".to_vec())]);
    assert!(t.is_not_mqtt());
    let (t, _) = run(&[Step::Data(C, vec![b'A'; MAX_HEAD + 10])]);
    assert!(t.is_not_mqtt());
}

#[test]
fn upgrade_sniffing() {
    let req = request("mqtt", "");
    assert!(looks_like_upgrade(&req));
    assert!(looks_like_upgrade(&req[..1]));
    assert!(looks_like_upgrade(b"GET /"));
    assert!(looks_like_upgrade(&req[..40]));
    assert!(looks_like_upgrade(&[req.clone(), cbin(CONNECT)].concat()));
    assert!(!looks_like_upgrade(b""));
    assert!(!looks_like_upgrade(b"POST /mqtt HTTP/1.1\r\n"));
    assert!(!looks_like_upgrade(b"GET /x HTTP/1.1\r\nHost: a\r\n\r\n"));
    assert!(!looks_like_upgrade(CONNECT));
    assert!(!looks_like_upgrade(b"GET /\x00"));
}

#[test]
fn text_frame_is_an_error_but_passed_on() {
    let (t, got) = session(
        "mqtt",
        "",
        vec![Step::Data(C, frame(0x81, Some(KEY), PINGREQ))],
    );
    assert_eq!(got.mqtt(C), PINGREQ);
    assert_eq!(t.facts().errors.client, 1);
    assert_eq!(got.kinds(C), vec![WsEventKind::Error(WsError::TextFrame)]);
}

#[test]
fn unmasked_client_and_masked_server_frames_are_counted() {
    let steps = vec![
        Step::Data(C, frame(0x82, None, CONNECT)),
        Step::Data(S, frame(0x82, Some(KEY), CONNACK)),
    ];
    let (t, got) = session("mqtt", "", steps);
    assert_eq!(
        (got.mqtt(C), got.mqtt(S)),
        (CONNECT.to_vec(), CONNACK.to_vec())
    );
    let errs: Vec<_> = t
        .facts()
        .first_errors
        .iter()
        .map(|e| (e.side, e.error, e.at))
        .collect();
    assert_eq!(
        errs,
        [
            (C, WsError::UnmaskedClientFrame, at(3)),
            (S, WsError::MaskedServerFrame, at(4))
        ]
    );
}

#[test]
fn frame_errors_recorded_and_reading_goes_on() {
    let steps = vec![
        Step::Data(S, frame(0x83, None, b"abc")),
        Step::Data(S, frame(0x89, None, &[7; 126])),
        Step::Data(S, frame(0x0a, None, b"")),
        Step::Data(S, frame(0xc2, None, PINGRESP)),
        Step::Data(S, frame(0x00, None, CONNACK)),
        Step::Data(S, frame(0x82, None, CONNACK)),
        Step::Data(S, frame(0x82, None, PINGRESP)),
    ];
    let (t, got) = session("mqtt", "", steps);
    let errs: Vec<_> = t.facts().first_errors.iter().map(|e| e.error).collect();
    assert_eq!(
        errs,
        [
            WsError::BadOpcode { opcode: 3 },
            WsError::ControlTooLong,
            WsError::FragmentedControl,
            WsError::ReservedBits,
            WsError::StrayContinuation,
            WsError::UnfinishedMessage,
        ]
    );
    assert_eq!(got.mqtt(S), [PINGRESP, CONNACK, CONNACK, PINGRESP].concat());
    let (t, _) = session("mqtt", "", vec![Step::Data(S, frame(0x80, None, b"x"))]);
    assert_eq!(t.facts().first_errors[0].error, WsError::StrayContinuation);
}

#[test]
fn hole_in_payload_is_a_gap_and_reading_goes_on() {
    let f = cbin(&publish());
    let hole = 6u64;
    let steps = vec![
        Step::Data(C, f[..8].to_vec()),
        Step::Gap(C, hole),
        Step::Data(C, f[8 + hole as usize..].to_vec()),
        Step::Data(C, cbin(PINGREQ)),
    ];
    let (t, got) = session("mqtt", "", steps);
    let p = publish();
    let head = 6; // 2-byte header + mask key
    assert_eq!(
        got.items[0],
        vec![
            Item::Bytes(p[..8 - head].to_vec()),
            Item::Gap(hole),
            Item::Bytes([&p[8 - head + hole as usize..], PINGREQ].concat()),
        ]
    );
    assert_eq!(t.facts().gaps.client, 1);
    assert_eq!(t.facts().lost_sync, PerSide::default());
}

#[test]
fn hole_across_a_header_loses_that_side_only() {
    let steps = vec![
        Step::Data(C, cbin(CONNECT)[..3].to_vec()),
        Step::Gap(C, 20),
        Step::Data(C, cbin(PINGREQ)),
        Step::Data(S, sbin(PINGRESP)),
        Step::Closed(C),
    ];
    let (t, got) = session("mqtt", "", steps);
    let pingreq_len = cbin(PINGREQ).len() as u64;
    assert_eq!(
        got.items[0],
        vec![
            Item::Event(WsEventKind::LostSync),
            Item::Gap(23 + pingreq_len)
        ]
    );
    assert_eq!(got.mqtt(S), PINGRESP);
    let f = t.facts();
    assert_eq!(
        f.lost_sync,
        PerSide {
            client: true,
            server: false
        }
    );
    assert!(!f.closed_without_close_frame.client);
}

#[test]
fn hole_in_the_request_loses_the_client() {
    let req = request("mqtt", "");
    let (t, got) = run(&[
        Step::Data(C, req[..30].to_vec()),
        Step::Gap(C, req.len() as u64 - 30),
        Step::Data(S, response("mqtt", "")),
        Step::Data(C, cbin(CONNECT)),
        Step::Data(S, sbin(CONNACK)),
    ]);
    assert_eq!(t.facts().status, Some(101));
    assert_eq!(got.mqtt(S), CONNACK);
    assert_eq!(
        got.gaps(C),
        [req.len() as u64 - 30 + cbin(CONNECT).len() as u64]
    );
    assert_eq!(t.buffered(), 0);
}

#[test]
fn early_client_bytes_past_the_cap_are_lost_not_held() {
    let big = vec![0x55; 40_000];
    let steps = vec![
        Step::Data(C, request("mqtt", "")),
        Step::Data(C, cbin(&big)),
        Step::Data(C, cbin(&big)),
        Step::Data(S, response("mqtt", "")),
    ];
    let (t, got) = run(&steps);
    assert_eq!(got.mqtt(C), big);
    assert_eq!(t.facts().early_bytes_dropped, cbin(&big).len() as u64);
    assert!(t.facts().lost_sync.client);
}

/// Raw DEFLATE of each message as RFC 7692 sends it (sync flush, tail stripped), with one
/// compressor for all (context takeover) or one per message.
fn deflate_messages(msgs: &[&[u8]], takeover: bool) -> Vec<Vec<u8>> {
    let mut z = Compress::new(Compression::default(), false);
    msgs.iter()
        .map(|m| {
            if !takeover {
                z = Compress::new(Compression::default(), false);
            }
            let mut out = Vec::with_capacity(m.len() + 64);
            z.compress_vec(m, &mut out, FlushCompress::Sync)
                .expect("deflate");
            assert!(out.ends_with(&[0, 0, 0xff, 0xff]));
            out.truncate(out.len() - 4);
            out
        })
        .collect()
}

#[test]
fn deflate_with_and_without_context_takeover() {
    let noise: Vec<u8> = (0..300u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    let long = [publish(), noise, publish()].concat();
    let msgs: [&[u8]; 4] = [CONNECT, &long, &long, DISCONNECT];
    for (takeover, ext) in [
        (true, "permessage-deflate; client_max_window_bits=15"),
        (
            false,
            "permessage-deflate; client_no_context_takeover; server_no_context_takeover",
        ),
    ] {
        let packed = deflate_messages(&msgs, takeover);
        if takeover {
            let (first, again) = (packed[1].len(), packed[2].len());
            assert!(
                first > 250 && again < 40,
                "the repeat refers back: {first} {again}"
            );
        }
        let mut steps: Vec<Step> = packed
            .iter()
            .map(|p| Step::Data(C, frame(0xc2, Some(KEY), p)))
            .collect();
        let server = deflate_messages(&[CONNACK, &long], takeover);
        steps.extend(server.iter().map(|p| Step::Data(S, frame(0xc2, None, p))));
        steps.push(Step::Data(S, sbin(PINGRESP)));
        let (t, got) = session("mqtt", ext, steps);
        assert_eq!(got.mqtt(C), msgs.concat(), "takeover {takeover}");
        assert_eq!(got.mqtt(S), [CONNACK, &long, PINGRESP].concat());
        let d = t.facts().deflate.expect("deflate");
        assert_eq!(d.client_no_context_takeover, !takeover);
        assert_eq!(d.client_max_window_bits, takeover.then_some(15));
        assert_eq!(t.facts().errors, PerSide::default());
    }
}

#[test]
fn compressed_message_in_fragments_split_at_every_byte() {
    let long = [publish(), vec![b'y'; 200]].concat();
    let packed = deflate_messages(&[&long, &long], true);
    let p = &packed[0];
    let third = p.len() / 3;
    let steps = vec![
        Step::Data(C, request("mqtt", "permessage-deflate")),
        Step::Data(S, response("mqtt", "permessage-deflate")),
        Step::Data(
            C,
            [
                frame(0x42, Some(KEY), &p[..third]),
                frame(0x89, Some(KEY), b"p"),
                frame(0x00, Some([5, 6, 7, 8]), &p[third..2 * third]),
                frame(0x80, Some(KEY), &p[2 * third..]),
                frame(0xc2, Some(KEY), &packed[1]),
            ]
            .concat(),
        ),
    ];
    let (t, got) = run(&steps);
    assert_eq!(got.mqtt(C), [long.clone(), long].concat());
    assert_eq!(t.facts().errors, PerSide::default());
    assert_split_invariant(&steps, &got);
}

#[test]
fn deflate_parameters_are_read() {
    let d = DeflateParams::from_extensions(
        "x-webkit-deflate-frame, permessage-deflate; server_no_context_takeover; \
         server_max_window_bits=\"10\"; client_max_window_bits=12",
    )
    .expect("offer");
    assert_eq!(
        d,
        DeflateParams {
            client_no_context_takeover: false,
            server_no_context_takeover: true,
            client_max_window_bits: Some(12),
            server_max_window_bits: Some(10),
        }
    );
    assert_eq!(
        DeflateParams::from_extensions("x-webkit-deflate-frame"),
        None
    );
}

#[test]
fn compressed_without_deflate_and_corrupt_deflate_are_errors() {
    let (t, _) = session("mqtt", "", vec![Step::Data(S, frame(0xc2, None, CONNACK))]);
    assert_eq!(t.facts().first_errors[0].error, WsError::ReservedBits);
    let steps = vec![
        Step::Data(S, frame(0xc2, None, &[0xff; 20])),
        Step::Data(S, frame(0x82, None, PINGRESP)),
    ];
    let (t, got) = session("mqtt", "permessage-deflate", steps);
    assert_eq!(t.facts().first_errors[0].error, WsError::InflateFailed);
    assert_eq!(got.gaps(S), [20]);
    assert!(got.mqtt(S).ends_with(PINGRESP));
}

#[test]
fn inflating_past_the_cap_stops() {
    let bomb = vec![0u8; 2 * MAX_MESSAGE];
    let packed = deflate_messages(&[&bomb], true);
    let steps = vec![
        Step::Data(S, frame(0xc2, None, &packed[0])),
        Step::Data(S, sbin(PINGRESP)),
    ];
    let (t, got) = session("mqtt", "permessage-deflate", steps);
    assert_eq!(t.facts().first_errors[0].error, WsError::InflateTooLong);
    assert!(got.mqtt(S).len() <= MAX_MESSAGE + PINGRESP.len());
    assert!(got.mqtt(S).ends_with(PINGRESP));
}

#[test]
fn hole_in_a_compressed_message_spoils_the_window_only_with_takeover() {
    let long = [publish(), vec![b'z'; 100]].concat();
    for (takeover, ext) in [
        (true, "permessage-deflate"),
        (false, "permessage-deflate; server_no_context_takeover"),
    ] {
        let packed = deflate_messages(&[&long, &long], takeover);
        let f0 = frame(0xc2, None, &packed[0]);
        let steps = vec![
            Step::Data(S, f0[..2].to_vec()),
            Step::Gap(S, f0.len() as u64 - 2),
            Step::Data(S, frame(0xc2, None, &packed[1])),
        ];
        let (_, got) = session("mqtt", ext, steps);
        if takeover {
            assert!(got.mqtt(S).is_empty());
            assert_eq!(
                got.gaps(S).len(),
                2,
                "lost message, then the unreadable one"
            );
            assert_eq!(got.kinds(S)[1], WsEventKind::Error(WsError::InflateFailed));
        } else {
            assert_eq!(got.mqtt(S), long);
        }
    }
}

#[test]
fn facts_serialize_without_empty_fields() {
    let (t, _) = refused("401 Unauthorized");
    let json = serde_json::to_value(t.facts()).expect("json");
    assert_eq!(json["status"], 401);
    assert!(json.get("closes").is_none() && json.get("deflate").is_none());
    let (_, got) = session(
        "mqtt",
        "",
        vec![Step::Data(C, frame(0x81, Some(KEY), b"x"))],
    );
    let ev = serde_json::to_value(&got.events[1]).expect("json");
    assert_eq!(
        (ev["ws"].as_str(), ev["error"].as_str()),
        (Some("error"), Some("text_frame"))
    );
}

/// The caps every reader state must keep.
const CAP: usize = 2 * MAX_HEAD + MAX_EARLY + 2 * (14 + 125);

fn arb_steps() -> impl Strategy<Value = Vec<(u8, Vec<u8>)>> {
    prop::collection::vec(
        (any::<u8>(), prop::collection::vec(any::<u8>(), 0..200)),
        0..40,
    )
}

/// Feeds steps chosen by a selector byte (side, data / gap / close).
fn feed_arbitrary(t: &mut WsTransport, steps: &[(u8, Vec<u8>)]) {
    let mut sink = |o: WsOutput<'_>| {
        if let WsOutput::Gap { len, .. } = o {
            assert!(len > 0);
        }
    };
    for (i, (sel, bytes)) in steps.iter().enumerate() {
        let side = if sel & 1 == 0 { C } else { S };
        match sel >> 1 & 7 {
            0 => t.gap(side, bytes.len() as u64 * 3 + 1, at(i as u64), &mut sink),
            1 => t.closed(side, at(i as u64), &mut sink),
            _ => t.data(side, bytes, at(i as u64), &mut sink),
        }
        assert!(t.buffered() <= CAP, "held {}", t.buffered());
    }
    let _ = serde_json::to_string(t.facts()).expect("json");
}

proptest! {
    #[test]
    fn arbitrary_bytes_never_panic(steps in arb_steps()) {
        let mut t = WsTransport::new();
        feed_arbitrary(&mut t, &steps);
    }

    #[test]
    fn arbitrary_frames_after_a_good_upgrade_never_panic(steps in arb_steps(), deflate in any::<bool>()) {
        let ext = if deflate { "permessage-deflate" } else { "" };
        let mut t = WsTransport::new();
        let mut sink = |_: WsOutput<'_>| {};
        t.data(C, &request("mqtt", ext), at(1), &mut sink);
        t.data(S, &response("mqtt", ext), at(2), &mut sink);
        feed_arbitrary(&mut t, &steps);
    }
}

/// MQTT bytes per frame and side, in order.
type PerFrame = Vec<(u64, Side, Vec<u8>)>;

/// Decodes hex (test data).
fn unhex(h: &str) -> Vec<u8> {
    (0..h.len() / 2)
        .map(|i| u8::from_str_radix(&h[2 * i..2 * i + 2], 16).expect("hex"))
        .collect()
}

/// A real capture (made and turned into test data by `testdata/make.sh`: paho-mqtt and the
/// Python websockets client, one with permessage-deflate, through a websockets server to
/// mosquitto): the MQTT bytes of every frame equal tshark's unmasked, inflated payloads, and
/// the Close codes match.
#[test]
fn real_capture_matches_tshark() {
    let steps = include_str!("testdata/mqtt-ws.steps");
    let expected = include_str!("testdata/mqtt-ws.expected");
    let mut conns: Vec<(WsTransport, Got, PerFrame)> = Vec::new();
    for line in steps.lines() {
        let f: Vec<&str> = line.split(' ').collect();
        let conn: usize = f[0].parse().expect("conn");
        let side = if f[1] == "c" { C } else { S };
        let a = at(f[2].parse().expect("frame"));
        if conn == conns.len() {
            conns.push((WsTransport::new(), Got::default(), Vec::new()));
        }
        let (t, got, per_frame) = &mut conns[conn];
        let mut out = |o: WsOutput<'_>| {
            if let WsOutput::Mqtt { side, bytes, at } = &o {
                match per_frame.last_mut() {
                    Some((fr, s, b)) if *fr == at.frame() && s == side => {
                        b.extend_from_slice(bytes)
                    }
                    _ => per_frame.push((at.frame(), *side, bytes.to_vec())),
                }
            }
            got.take(o);
        };
        match f[3] {
            "fin" => t.closed(side, a, &mut out),
            hex => t.data(side, &unhex(hex), a, &mut out),
        }
    }
    let mut want: Vec<PerFrame> = vec![Vec::new(); conns.len()];
    let mut codes = Vec::new();
    for line in expected.lines() {
        let f: Vec<&str> = line.split(' ').collect();
        let conn: usize = f[0].parse().expect("conn");
        let side = if f[1] == "c" { C } else { S };
        let frame: u64 = f[2].parse().expect("frame");
        match f[3] {
            "close" => codes.push((conn, side, f[4].parse::<u16>().expect("code"))),
            hex => want[conn].push((frame, side, unhex(hex))),
        }
    }
    assert_eq!(want.iter().map(Vec::len).sum::<usize>(), 23);
    for (n, (t, _, per_frame)) in conns.iter().enumerate() {
        assert_eq!(per_frame, &want[n], "connection {n}");
        assert_eq!(t.facts().errors, PerSide::default(), "connection {n}");
        assert_eq!(t.facts().subprotocol.as_deref(), Some("mqtt"));
    }
    let (paho, deflate) = (conns[0].0.facts(), conns[1].0.facts());
    assert_eq!(paho.deflate, None);
    assert_eq!(
        paho.closed_without_close_frame,
        PerSide {
            client: true,
            server: true
        }
    );
    let d = deflate.deflate.expect("deflate");
    assert_eq!(
        (d.client_max_window_bits, d.server_max_window_bits),
        (Some(12), Some(12))
    );
    let got_codes: Vec<_> = [C, S]
        .into_iter()
        .filter_map(|s| {
            deflate
                .closes
                .get(s)
                .as_ref()
                .map(|c| (1, s, c.code.unwrap_or(0)))
        })
        .collect();
    codes.sort_by_key(|c| c.1.idx());
    assert_eq!(got_codes, codes);
    assert_eq!(
        deflate.closes.server.as_ref().map(|c| c.reason.as_str()),
        Some("broker closed")
    );
    assert_eq!((deflate.pings.client, deflate.pongs.server), (1, 1));
    assert_eq!(deflate.closed_without_close_frame, PerSide::default());
}

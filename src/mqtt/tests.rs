//! Hand-built packets (from the MQTT 3.1, 3.1.1 and 5.0 specifications), framing edge cases,
//! and property tests that nothing panics and framing finds exact boundaries.

use super::*;
use proptest::prelude::*;

const V311: Option<Version> = Some(Version::V311);
const V5: Option<Version> = Some(Version::V5);

fn ok(packet: &[u8], version: Option<Version>) -> Packet {
    assert_eq!(frame(packet, 1 << 20), Framing::Whole { len: packet.len() });
    assert!(plausible_start(packet), "not plausible: {packet:02x?}");
    decode(packet, version).unwrap_or_else(|e| panic!("{e} in {packet:02x?}"))
}

// ---- CONNECT ----

/// 3.1.1 CONNECT, clean session, user name "alice", password "s3cr3t".
const CONNECT_311_LOGIN: &[u8] = &[
    0x10, 30, // CONNECT, remaining length 30
    0x00, 0x04, b'M', b'Q', b'T', b'T', // protocol name
    0x04, // level 4 = 3.1.1
    0xC2, // flags: user name, password, clean session
    0x00, 0x3C, // keepalive 60 s
    0x00, 0x03, b'c', b'l', b'i', // client id "cli"
    0x00, 0x05, b'a', b'l', b'i', b'c', b'e', // user name
    0x00, 0x06, b's', b'3', b'c', b'r', b'3', b't', // password
];

#[test]
fn connect_311_keeps_user_name_never_password() {
    let packet = ok(CONNECT_311_LOGIN, None);
    let expected = Packet::Connect(Connect {
        version: Version::V311,
        client_id: "cli".into(),
        keepalive: 60,
        clean_session: true,
        will: false,
        has_username: true,
        has_password: true,
        username: Some("alice".into()),
    });
    assert_eq!(packet, expected);
    assert!(!format!("{packet:?}").contains("s3cr3t"));
    assert!(!serde_json::to_string(&packet).unwrap().contains("s3cr3t"));
}

#[test]
fn connect_31_mqisdp_with_will() {
    let packet = [
        0x10, 25, // CONNECT, remaining length 25
        0x00, 0x06, b'M', b'Q', b'I', b's', b'd', b'p', // MQTT 3.1 protocol name
        0x03, // level 3
        0x06, // flags: will, clean session
        0x00, 0x05, // keepalive 5 s
        0x00, 0x04, b'p', b'a', b'h', b'o', // client id
        0x00, 0x01, b't', // will topic
        0x00, 0x02, b'h', b'i', // will message
    ];
    let Packet::Connect(c) = ok(&packet, None) else {
        panic!()
    };
    assert_eq!((c.version, c.keepalive, c.will), (Version::V31, 5, true));
    assert_eq!((c.client_id.as_str(), c.has_username), ("paho", false));
}

#[test]
fn connect_5_skips_properties_and_bridge_bit() {
    let packet = [
        0x10, 20, // CONNECT, remaining length 20
        0x00, 0x04, b'M', b'Q', b'T', b'T', // protocol name
        0x85, // level 5 with the bridge bit
        0x02, // clean start
        0x00, 0x0A, // keepalive 10 s
        0x05, 0x11, 0x00, 0x00, 0x00, 0x3C, // properties: session expiry 60
        0x00, 0x02, b'c', b'5', // client id
    ];
    let Packet::Connect(c) = ok(&packet, None) else {
        panic!()
    };
    assert_eq!((c.version, c.client_id.as_str()), (Version::V5, "c5"));
}

#[test]
fn connect_with_unknown_protocol_is_malformed() {
    let packet = [0x10, 8, 0x00, 0x04, b'M', b'Q', b'T', b'X', 0x04, 0x00];
    let err = decode(&packet, None).unwrap_err();
    assert_eq!(err.kind(), Some(PacketKind::Connect));
    assert!(err.to_string().contains("unknown protocol name"));
}

// ---- CONNACK ----

#[test]
fn connack_codes_are_kept_raw() {
    // 3.1.1: session present, accepted
    let accepted = ok(&[0x20, 0x02, 0x01, 0x00], V311);
    assert_eq!(
        accepted,
        Packet::ConnAck {
            session_present: true,
            code: 0
        }
    );
    // 3.x: code 6 is reserved, kept anyway
    let six = ok(&[0x20, 0x02, 0x00, 0x06], V311);
    assert_eq!(
        six,
        Packet::ConnAck {
            session_present: false,
            code: 6
        }
    );
    // 5.0: 0x8C bad authentication method, empty properties
    let v5 = ok(&[0x20, 0x03, 0x00, 0x8C, 0x00], V5);
    assert_eq!(
        v5,
        Packet::ConnAck {
            session_present: false,
            code: 0x8C
        }
    );
    // 5.0 with properties: receive maximum 20
    let props = ok(&[0x20, 0x06, 0x00, 0x00, 0x03, 0x21, 0x00, 0x14], V5);
    assert_eq!(
        props,
        Packet::ConnAck {
            session_present: false,
            code: 0
        }
    );
    // 3.x: nothing may follow the code
    assert!(decode(&[0x20, 0x03, 0x00, 0x00, 0x00], V311).is_err());
}

// ---- PUBLISH ----

#[test]
fn publish_311_qos1_and_qos0() {
    let qos1 = [
        0x32, 12, // PUBLISH QoS 1, remaining length 12
        0x00, 0x03, b'a', b'/', b'b', // topic
        0x00, 0x07, // packet id 7
        b'h', b'e', b'l', b'l', b'o', // payload (5 bytes)
    ];
    let expected = Packet::Publish {
        topic: "a/b".into(),
        qos: 1,
        retain: false,
        dup: false,
        packet_id: Some(7),
        payload_len: 5,
    };
    assert_eq!(ok(&qos1, V311), expected);
    // QoS 0, retain, empty payload
    let qos0 = ok(&[0x31, 0x03, 0x00, 0x01, b't'], V311);
    let Packet::Publish {
        qos,
        retain,
        packet_id,
        payload_len,
        ..
    } = qos0
    else {
        panic!()
    };
    assert_eq!((qos, retain, packet_id, payload_len), (0, true, None, 0));
}

#[test]
fn publish_5_skips_properties() {
    let packet = [
        0x3B, 17, // PUBLISH DUP, QoS 1, RETAIN; remaining length 17
        0x00, 0x03, b'a', b'/', b'b', // topic
        0x00, 0x09, // packet id 9
        0x05, 0x01, 0x01, 0x23, 0x00, 0x05, // properties: payload format 1, topic alias 5
        b'd', b'a', b't', b'a', // payload (4 bytes)
    ];
    let expected = Packet::Publish {
        topic: "a/b".into(),
        qos: 1,
        retain: true,
        dup: true,
        packet_id: Some(9),
        payload_len: 4,
    };
    assert_eq!(ok(&packet, V5), expected);
    // The same bytes read as 3.1.1 count the properties as payload.
    let Packet::Publish { payload_len, .. } = ok(&packet, V311) else {
        panic!()
    };
    assert_eq!(payload_len, 10);
}

#[test]
fn publish_faults_are_named() {
    // topic of length 5 in a 3-byte body
    let err = decode(&[0x30, 0x03, 0x00, 0x05, b'x'], V311).unwrap_err();
    assert_eq!(err.kind(), Some(PacketKind::Publish));
    // topic bytes not UTF-8
    let err = decode(&[0x30, 0x03, 0x00, 0x01, 0xFF], V311).unwrap_err();
    assert_eq!(
        err,
        DecodeError::Body {
            kind: PacketKind::Publish,
            reason: "topic not UTF-8"
        }
    );
    // 5.0 property length past the end
    let err = decode(&[0x30, 0x04, 0x00, 0x01, b't', 0x09], V5).unwrap_err();
    assert!(
        err.to_string().contains("property overruns packet"),
        "{err}"
    );
}

// ---- PUBACK family ----

#[test]
fn pub_acks_311() {
    assert_eq!(
        ok(&[0x40, 0x02, 0x00, 0x07], V311),
        Packet::PubAck {
            packet_id: 7,
            reason: None
        }
    );
    assert_eq!(
        ok(&[0x50, 0x02, 0x00, 0x08], V311),
        Packet::PubRec {
            packet_id: 8,
            reason: None
        }
    );
    assert_eq!(
        ok(&[0x62, 0x02, 0x00, 0x08], V311),
        Packet::PubRel {
            packet_id: 8,
            reason: None
        }
    );
    assert_eq!(
        ok(&[0x70, 0x02, 0x00, 0x08], V311),
        Packet::PubComp {
            packet_id: 8,
            reason: None
        }
    );
    // 3.x: exactly two bytes
    assert!(decode(&[0x40, 0x03, 0x00, 0x07, 0x00], V311).is_err());
}

#[test]
fn pub_acks_5() {
    // reason omitted = success
    assert_eq!(
        ok(&[0x40, 0x02, 0x00, 0x07], V5),
        Packet::PubAck {
            packet_id: 7,
            reason: Some(0)
        }
    );
    // 0x10 no matching subscribers, no properties
    let pubrec = ok(&[0x50, 0x03, 0x00, 0x08, 0x10], V5);
    assert_eq!(
        pubrec,
        Packet::PubRec {
            packet_id: 8,
            reason: Some(0x10)
        }
    );
    // 0x92 packet identifier not found, empty properties
    let pubrel = ok(&[0x62, 0x04, 0x00, 0x08, 0x92, 0x00], V5);
    assert_eq!(
        pubrel,
        Packet::PubRel {
            packet_id: 8,
            reason: Some(0x92)
        }
    );
    // success with a reason string "x"
    let pubcomp = ok(
        &[0x70, 0x08, 0x00, 0x08, 0x00, 0x04, 0x1F, 0x00, 0x01, b'x'],
        V5,
    );
    assert_eq!(
        pubcomp,
        Packet::PubComp {
            packet_id: 8,
            reason: Some(0)
        }
    );
    // unassigned code 0x42 kept raw; version unknown but the length says 5.0
    let odd = ok(&[0x40, 0x03, 0x00, 0x07, 0x42], None);
    assert_eq!(
        odd,
        Packet::PubAck {
            packet_id: 7,
            reason: Some(0x42)
        }
    );
}

// ---- SUBSCRIBE / SUBACK / UNSUBSCRIBE / UNSUBACK ----

#[test]
fn subscribe_311_and_5() {
    let v311 = [
        0x82, 12, // SUBSCRIBE, remaining length 12
        0x00, 0x0A, // packet id 10
        0x00, 0x03, b'a', b'/', b'#', 0x01, // filter "a/#", QoS 1
        0x00, 0x01, b'b', 0x02, // filter "b", QoS 2
    ];
    let expected = Packet::Subscribe {
        packet_id: 10,
        topics: vec![("a/#".into(), 1), ("b".into(), 2)],
    };
    assert_eq!(ok(&v311, V311), expected);
    let v5 = [
        0x82, 11, // SUBSCRIBE, remaining length 11
        0x00, 0x0A, // packet id 10
        0x02, 0x0B, 0x05, // properties: subscription identifier 5
        0x00, 0x03, b'a', b'/', b'#', 0x21, // "a/#", QoS 1, retain handling 2
    ];
    let expected = Packet::Subscribe {
        packet_id: 10,
        topics: vec![("a/#".into(), 1)],
    };
    assert_eq!(ok(&v5, V5), expected);
}

#[test]
fn suback_keeps_failure_codes() {
    // 3.1.1: granted QoS 1, then 0x80 failure
    let v311 = ok(&[0x90, 0x04, 0x00, 0x0A, 0x01, 0x80], V311);
    assert_eq!(
        v311,
        Packet::SubAck {
            packet_id: 10,
            codes: vec![0x01, 0x80]
        }
    );
    // 5.0: empty properties, QoS 1, 0x87 not authorized
    let v5 = ok(&[0x90, 0x05, 0x00, 0x0A, 0x00, 0x01, 0x87], V5);
    assert_eq!(
        v5,
        Packet::SubAck {
            packet_id: 10,
            codes: vec![0x01, 0x87]
        }
    );
}

#[test]
fn unsubscribe_and_unsuback() {
    // 3.1.1: packet id 11, filter "a/#"
    let v311 = ok(
        &[0xA2, 0x07, 0x00, 0x0B, 0x00, 0x03, b'a', b'/', b'#'],
        V311,
    );
    let expected = Packet::Unsubscribe {
        packet_id: 11,
        topics: vec!["a/#".into()],
    };
    assert_eq!(v311, expected);
    // 5.0: empty properties before the filter
    let v5 = ok(
        &[0xA2, 0x08, 0x00, 0x0B, 0x00, 0x00, 0x03, b'a', b'/', b'#'],
        V5,
    );
    assert_eq!(v5, expected);
    assert_eq!(
        ok(&[0xB0, 0x02, 0x00, 0x0B], V311),
        Packet::UnsubAck { packet_id: 11 }
    );
    // 5.0: empty properties, reason 0x11 no subscription existed
    assert_eq!(
        ok(&[0xB0, 0x04, 0x00, 0x0B, 0x00, 0x11], V5),
        Packet::UnsubAck { packet_id: 11 }
    );
}

// ---- PING / DISCONNECT / AUTH ----

#[test]
fn pings() {
    assert_eq!(ok(&[0xC0, 0x00], V311), Packet::PingReq);
    assert_eq!(ok(&[0xD0, 0x00], V5), Packet::PingResp);
    assert!(decode(&[0xC0, 0x01, 0x00], V311).is_err());
}

#[test]
fn disconnects() {
    let none = Packet::Disconnect {
        reason: None,
        reason_string: None,
    };
    assert_eq!(ok(&[0xE0, 0x00], V311), none);
    assert_eq!(ok(&[0xE0, 0x00], None), none);
    // bare 5.0 DISCONNECT: normal disconnection
    let bare = ok(&[0xE0, 0x00], V5);
    assert_eq!(
        bare,
        Packet::Disconnect {
            reason: Some(0),
            reason_string: None
        }
    );
    // 0x8E session taken over, reason string "taken"
    let packet = [
        0xE0, 10,   // DISCONNECT, remaining length 10
        0x8E, // session taken over
        0x08, 0x1F, 0x00, 0x05, b't', b'a', b'k', b'e', b'n', // properties: reason string
    ];
    let expected = Packet::Disconnect {
        reason: Some(0x8E),
        reason_string: Some("taken".into()),
    };
    assert_eq!(ok(&packet, V5), expected);
    // reason code alone (no property length) is legal; version unknown but length says 5.0
    let short = ok(&[0xE0, 0x01, 0x8D], None);
    assert_eq!(
        short,
        Packet::Disconnect {
            reason: Some(0x8D),
            reason_string: None
        }
    );
}

#[test]
fn auth() {
    assert_eq!(ok(&[0xF0, 0x00], V5), Packet::Auth { reason: Some(0) });
    let packet = [
        0xF0, 10,   // AUTH, remaining length 10
        0x18, // continue authentication
        0x08, 0x15, 0x00, 0x05, b'S', b'C', b'R', b'A', b'M', // authentication method
    ];
    assert_eq!(ok(&packet, V5), Packet::Auth { reason: Some(0x18) });
    let err = decode(&[0xF0, 0x00], V311).unwrap_err();
    assert_eq!(err.kind(), Some(PacketKind::Auth));
}

#[test]
fn header_faults_have_no_kind() {
    // remaining length 0 but one more byte
    assert_eq!(decode(&[0xC0, 0x00, 0x00], None).unwrap_err().kind(), None);
    // reserved type 0
    assert_eq!(decode(&[0x00, 0x00], None).unwrap_err().kind(), None);
    assert_eq!(decode(&[], None).unwrap_err().kind(), None);
}

// ---- names and serde ----

#[test]
fn kinds_round_trip_their_type_nibble() {
    for (i, kind) in PacketKind::ALL.into_iter().enumerate() {
        assert_eq!(PacketKind::from_type_nibble(i as u8 + 1), Some(kind));
        let json = serde_json::to_string(&kind).unwrap();
        assert_eq!(json, format!("\"{}\"", kind.name()));
    }
    assert_eq!(PacketKind::from_type_nibble(0), None);
    assert_eq!(PacketKind::from_type_nibble(16), None);
}

#[test]
fn packets_serialize_with_type_tag() {
    let connack = Packet::ConnAck {
        session_present: false,
        code: 5,
    };
    let json = serde_json::to_string(&connack).unwrap();
    assert_eq!(
        json,
        r#"{"type":"CONNACK","session_present":false,"code":5}"#
    );
    let Packet::Connect(c) = ok(CONNECT_311_LOGIN, None) else {
        panic!()
    };
    let json = serde_json::to_value(Packet::Connect(c)).unwrap();
    assert_eq!(
        (json["type"].as_str(), json["version"].as_str()),
        (Some("CONNECT"), Some("3.1.1"))
    );
    assert_eq!(
        serde_json::to_string(&Packet::PingReq).unwrap(),
        r#"{"type":"PINGREQ"}"#
    );
}

// ---- framing ----

#[test]
fn several_packets_in_one_buffer() {
    let mut buf = vec![0xC0, 0x00]; // PINGREQ
    buf.extend_from_slice(&[0x32, 0x07, 0x00, 0x01, b't', 0x00, 0x01, b'h', b'i']); // PUBLISH QoS 1
    buf.extend_from_slice(&[0x40, 0x02, 0x00, 0x01]); // PUBACK
    let mut lens = Vec::new();
    let mut rest = &buf[..];
    while let Framing::Whole { len } = frame(rest, 1024) {
        lens.push(len);
        rest = &rest[len..];
    }
    assert_eq!((lens, rest.len()), (vec![2, 9, 4], 0));
}

#[test]
fn a_packet_split_at_every_byte_needs_more() {
    for packet in [CONNECT_311_LOGIN, &[0xE0, 0x00], &[0x40, 0x02, 0x00, 0x07]] {
        for cut in 0..packet.len() {
            let framing = frame(&packet[..cut], 1024);
            assert!(
                matches!(framing, Framing::NeedMore { needed } if needed >= 1),
                "{cut}"
            );
        }
        assert_eq!(frame(packet, 1024), Framing::Whole { len: packet.len() });
    }
}

#[test]
fn a_varint_split_across_the_buffer_end() {
    // remaining length 0xC1 0x02 = 65 + 2 * 128 = 321
    assert_eq!(frame(&[0x30, 0xC1], 1024), Framing::NeedMore { needed: 1 });
    assert_eq!(
        frame(&[0x30, 0xC1, 0x02], 1024),
        Framing::NeedMore { needed: 321 }
    );
    assert_eq!(frame(&[0x30], 1024), Framing::NeedMore { needed: 1 });
    assert_eq!(frame(&[], 1024), Framing::NeedMore { needed: 2 });
}

#[test]
fn a_fifth_length_byte_is_malformed() {
    let packet = [0x30, 0xFF, 0xFF, 0xFF, 0xFF, 0x01];
    assert_eq!(frame(&packet, usize::MAX), Framing::Malformed);
    assert_eq!(frame(&packet[..5], usize::MAX), Framing::Malformed);
    assert!(!plausible_start(&packet));
    assert_eq!(decode(&packet, None).unwrap_err().kind(), None);
}

#[test]
fn a_256_mb_claim_is_too_big_not_an_allocation() {
    // 0xFF 0xFF 0xFF 0x7F = 268,435,455, the largest remaining length
    let header = [0x30, 0xFF, 0xFF, 0xFF, 0x7F];
    assert_eq!(
        frame(&header, 1 << 20),
        Framing::TooBig {
            len: 5 + 268_435_455
        }
    );
    // within the cap it is merely incomplete
    assert_eq!(
        frame(&header, usize::MAX),
        Framing::NeedMore {
            needed: 268_435_455
        }
    );
}

#[test]
fn bad_flags_are_malformed() {
    for byte1 in [0x00, 0x01, 0x41, 0x60, 0x80, 0xC1, 0xE2, 0xF1] {
        assert_eq!(
            frame(&[byte1, 0x00], 1024),
            Framing::Malformed,
            "{byte1:#x}"
        );
    }
    // MQTT 3.1 allowed DUP on a resent SUBSCRIBE
    assert_eq!(frame(&[0x8A, 0x00], 1024), Framing::Whole { len: 2 });
}

#[test]
fn a_framed_publish_with_qos_3_is_a_malformed_publish() {
    let packet = [0x36, 0x05, 0x00, 0x01, b't', 0x00, 0x01];
    assert_eq!(frame(&packet, 1024), Framing::Whole { len: 7 });
    let err = decode(&packet, Some(Version::V311)).unwrap_err();
    assert_eq!(err.kind(), Some(PacketKind::Publish));
    assert!(err.to_string().contains("QoS 3"), "{err}");
    assert!(!plausible_start(&packet), "never a place to resynchronise");
}

#[test]
fn plausible_starts() {
    assert!(plausible_start(&[0xC0, 0x00]));
    assert!(plausible_start(&[0x40, 0x02])); // body need not be present yet
    assert!(plausible_start(&[
        0x10, 0x12, 0x00, 0x06, b'M', b'Q', b'I', b's', b'd', b'p', 0x03
    ]));
    assert!(plausible_start(&[0x32, 0x07, 0x00, 0x01, b't']));
}

#[test]
fn implausible_starts() {
    assert!(!plausible_start(&[]));
    assert!(!plausible_start(&[0x30])); // no remaining length yet
    assert!(!plausible_start(&[0xC0, 0x01])); // PINGREQ with a body
    assert!(!plausible_start(&[0x40, 0x01])); // PUBACK too short
    assert!(!plausible_start(&[0x20, 0x02, 0x05])); // CONNACK flags other than bit 0
    assert!(!plausible_start(&[0x32, 0x03, 0x00, 0x05])); // topic longer than the packet
    assert!(!plausible_start(&[
        0x10, 0x10, 0x00, 0x04, b'M', b'Q', b'T', b'X', 0x04
    ]));
    assert!(!plausible_start(&[
        0x10, 0x10, 0x00, 0x04, b'M', b'Q', b'T', b'T', 0x07
    ]));
    assert!(!plausible_start(&[0x10, 0x10, 0x00, 0x04])); // protocol name not there yet
    assert!(!plausible_start(b"GET / HTTP/1.1"));
    assert!(!plausible_start(&[0xF0, 0x02, 0x42, 0x00])); // AUTH with an unknown reason
}

// ---- property tests ----

/// Encodes a fixed header with any flags legal for `kind_nibble`, then `body`.
fn encode(kind_nibble: u8, flags: u8, body: &[u8]) -> Vec<u8> {
    let flags = match kind_nibble {
        3 if flags & 0b0110 == 0b0110 => flags & 0b1011,
        3 => flags & 0x0F,
        6 | 8 | 10 => 0b0010,
        _ => 0,
    };
    let mut out = vec![kind_nibble << 4 | flags];
    let mut len = body.len();
    loop {
        let byte = (len % 128) as u8;
        len /= 128;
        out.push(if len > 0 { byte | 0x80 } else { byte });
        if len == 0 {
            break;
        }
    }
    out.extend_from_slice(body);
    out
}

fn versions() -> impl Strategy<Value = Option<Version>> {
    prop_oneof![Just(None), Just(Some(Version::V31)), Just(V311), Just(V5)]
}

proptest! {
    // Shrunk failures go into the test below as fixed vectors, not into a file outside src/mqtt.
    #![proptest_config(ProptestConfig { failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..600),
                                   version in versions(), max in 0usize..1000) {
        let _ = frame(&bytes, max);
        let _ = plausible_start(&bytes);
        let _ = decode(&bytes, version);
    }

    #[test]
    fn framing_recovers_packet_boundaries(
        packets in prop::collection::vec(
            (1u8..=15, any::<u8>(), prop::collection::vec(any::<u8>(), 0..300)), 1..12),
        version in versions(),
    ) {
        let encoded: Vec<Vec<u8>> =
            packets.iter().map(|(kind, flags, body)| encode(*kind, *flags, body)).collect();
        let stream = encoded.concat();
        let mut rest = &stream[..];
        for packet in &encoded {
            prop_assert_eq!(frame(rest, 1 << 20), Framing::Whole { len: packet.len() });
            let _ = decode(&rest[..packet.len()], version);
            rest = &rest[packet.len()..];
        }
        prop_assert!(rest.is_empty());
    }

    #[test]
    fn publish_round_trips(topic in "[a-z/+#é]{0,40}", qos in 0u8..=2, retain: bool, dup: bool,
                           id in 1u16.., payload in 0usize..400) {
        let mut body = Vec::new();
        body.extend_from_slice(&(topic.len() as u16).to_be_bytes());
        body.extend_from_slice(topic.as_bytes());
        if qos > 0 {
            body.extend_from_slice(&id.to_be_bytes());
        }
        body.resize(body.len() + payload, 0xAB);
        let flags = u8::from(dup) << 3 | qos << 1 | u8::from(retain);
        let packet = encode(3, flags, &body);
        let expected = Packet::Publish {
            topic, qos, retain, dup,
            packet_id: (qos > 0).then_some(id),
            payload_len: payload as u32,
        };
        prop_assert_eq!(decode(&packet, V311), Ok(expected));
    }
}

// ---- real captures ----

/// TCP payloads (stream, MQTT packet type numbers tshark reports, hex) of every non-retransmitted
/// data segment, in frame order, from /work/shared/captures-public/ (see its PROVENANCE.md):
/// `tshark -r FILE -Y 'tcp.len>0 && !tcp.analysis.retransmission' -T fields -e tcp.stream
/// -e mqtt.msgtype -e tcp.payload -E occurrence=a -E aggregator=';'`.
/// One TCP segment: stream index, MQTT packet types tshark sees in it, payload in hex.
type Segment = (u8, &'static [u8], &'static str);

const CAPTURES: [(&str, &[Segment]); 3] = [
    (
        "zeek-mqtt.pcap",
        &[
            (
                0,
                &[1],
                "102500064d51497364700302000500177061686f2f333441414535344137354438333935363645",
            ),
            (0, &[2], "20020000"),
            (0, &[8], "82100001000b53616d706c65546f70696300"),
            (0, &[9], "9003000100"),
            (
                0,
                &[3],
                "3130000b53616d706c65546f70696348656c6c6f2066726f6d20746865205061686f20626c6f636b696e6720636c69656e74",
            ),
            (0, &[12], "c000"),
            (0, &[13], "d000"),
            (
                1,
                &[1],
                "102500064d51497364700302000500177061686f2f444445344444414634313038443345333633",
            ),
            (
                1,
                &[3, 14],
                "3017000b53616d706c65546f70696348656c6c6f204d515454e000",
            ),
            (1, &[2], "20020000"),
            (
                0,
                &[3],
                "3017000b53616d706c65546f70696348656c6c6f204d515454",
            ),
        ],
    ),
    (
        "suricata-verify-mqtt5-sub-customauth.pcap",
        &[
            (
                0,
                &[1],
                "103000044d5154540502003c10150003666f6f1600043132333421001400136d79766f69636569736d7970617373706f7274",
            ),
            (0, &[2], "2003008c00"),
        ],
    ),
    (
        "suricata-verify-mqtt5-sub-mosquittoprops.pcap",
        &[
            (
                0,
                &[1],
                "10cc0100044d51545405c6003c3c2700002b672100de110000022b22029a2600097573657270726f703100087573657276616c312600097573657270726f703200087573657276616c3200136d79766f69636569736d7970617373706f72744b03000a6d7977696c6c74797065090007313233343536370200000085019008000f726573706f6e73655f746f706963312600097573657270726f703500087573657276616c3518000000c8000977696c6c746f706963000b77696c6c6d657373616765000475736572000470617373",
            ),
            (0, &[2], "200600000322000a"),
            (0, &[8], "82150001000006746f70696358000006746f7069635900"),
            (0, &[9], "90050001000000"),
            (
                0,
                &[14],
                "e01d041b110000007a2600097573657270726f703400087573657276616c34",
            ),
        ],
    ),
];

fn unhex(hex: &str) -> Vec<u8> {
    let digit = |i: usize| u8::from_str_radix(&hex[i..i + 2], 16).unwrap();
    (0..hex.len()).step_by(2).map(digit).collect()
}

/// Frames and decodes one capture's segments; returns every packet in order.
fn decode_capture(segments: &[Segment]) -> Vec<Packet> {
    let mut versions = [None; 2];
    let mut all = Vec::new();
    for (stream, kinds, hex) in segments {
        let bytes = unhex(hex);
        let mut rest = &bytes[..];
        for &kind in *kinds {
            let Framing::Whole { len } = frame(rest, 1 << 20) else {
                panic!("{hex}")
            };
            let packet = decode(&rest[..len], versions[usize::from(*stream)]).unwrap();
            assert_eq!(Some(packet.kind()), PacketKind::from_type_nibble(kind));
            if let Packet::Connect(c) = &packet {
                versions[usize::from(*stream)] = Some(c.version);
            }
            all.push(packet);
            rest = &rest[len..];
        }
        assert!(rest.is_empty());
    }
    all
}

#[test]
fn real_captures_decode_as_tshark_does() {
    let [zeek, customauth, props] = CAPTURES.map(|(_, segments)| decode_capture(segments));
    let Packet::Connect(c) = &zeek[0] else {
        panic!()
    };
    assert_eq!(
        (c.version, c.keepalive, c.client_id.len()),
        (Version::V31, 5, 23)
    );
    let topics = vec![("SampleTopic".to_string(), 0)];
    assert_eq!(
        zeek[2],
        Packet::Subscribe {
            packet_id: 1,
            topics
        }
    );
    let Packet::Publish { payload_len, .. } = zeek[4] else {
        panic!()
    };
    assert_eq!(payload_len, 35);
    assert_eq!(
        customauth[1],
        Packet::ConnAck {
            session_present: false,
            code: 0x8C
        }
    );
    let Packet::Connect(c) = &props[0] else {
        panic!()
    };
    assert_eq!(
        (c.will, c.username.as_deref(), c.has_password),
        (true, Some("user"), true)
    );
    assert!(!format!("{:?}", props[0]).contains("\"pass\""));
    let reason = Packet::Disconnect {
        reason: Some(0x04),
        reason_string: None,
    };
    assert_eq!(props[4], reason);
}

//! The bodies of the fuzz targets, as plain functions: `fuzz_targets/*.rs` hand them
//! libFuzzer's inputs, and `tests/seeds.rs` runs them over the seed corpus with plain
//! `cargo test` (the CI fallback when no nightly toolchain is at hand).

use dropscope::decode::{self, linktype};
use dropscope::mqtt::{self, Framing, Version};
use dropscope::source::Timeline;
use dropscope::tcp::{Piece, Reassembler, Seq, Side, StreamEvent, TcpEvent, TcpEventKind};
use dropscope::time::Timestamp;
use dropscope::transport::tls::decrypt::KeyLog;
use dropscope::transport::tls::{TlsOutput, TlsTransport};
use dropscope::{Analyzer, Config, FrameRef};
use std::io::Write;

/// The link types `decode` knows; the first input byte picks one.
const LINKTYPES: [u32; 9] = [
    linktype::NULL,
    linktype::ETHERNET,
    linktype::RAW_BSD,
    linktype::RAW,
    linktype::LOOP,
    linktype::LINUX_SLL,
    linktype::IPV4,
    linktype::IPV6,
    linktype::LINUX_SLL2,
];

/// Frame decoding: byte 0 picks the link type (low bits) and whether the frame was cut by
/// the snapshot length (bit 7); the rest is the frame. Must never panic, and a segment's
/// payload must lie inside the frame.
pub fn decode_frame(data: &[u8]) {
    let Some((&pick, frame)) = data.split_first() else {
        return;
    };
    let lt = LINKTYPES[usize::from(pick & 0x7f) % LINKTYPES.len()];
    if let Ok(seg) = decode::decode(lt, frame, pick & 0x80 != 0) {
        let (start, end) = (
            frame.as_ptr() as usize,
            frame.as_ptr() as usize + frame.len(),
        );
        let p = seg.payload.as_ptr() as usize;
        assert!(seg.payload.is_empty() || (p >= start && p + seg.payload.len() <= end));
        assert!(seg.payload.len() <= seg.payload_len as usize);
    }
}

/// The stream the reassembly target cuts segments from: byte i is a function of i.
fn stream_byte(i: usize) -> u8 {
    (i.wrapping_mul(31) ^ (i >> 8)) as u8
}

/// TCP reassembly: the input is a list of segments, 4 bytes each (offset u16, length u8,
/// flags u8) over a known 4 KB stream, the first forced to offset 0; bit 0 of the flags
/// sends it twice, bit 1 snaplen-cuts it to half. When the segments cover the stream from
/// 0 to their furthest end with no hole and none was cut, the delivered bytes must be
/// exactly that prefix of the stream. A second reassembler with a tiny cap takes the same
/// segments and must only stay consistent (delivered + missing = furthest end).
pub fn reassembly(data: &[u8]) {
    const STREAM: usize = 4096;
    let isn = data
        .get(..4)
        .map_or(0, |b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]));
    let stream: Vec<u8> = (0..STREAM + 256).map(stream_byte).collect();
    let mut roomy = Reassembler::new(usize::MAX);
    let mut tiny = Reassembler::new(256);
    let (mut got, mut missing_roomy) = (Vec::new(), 0u64);
    let (mut tiny_data, mut tiny_missing) = (0u64, 0u64);
    let mut covered = vec![false; STREAM + 256];
    let mut any_cut = false;
    let at = FrameRef::new(1, Timestamp(0));
    for (n, s) in data.get(4..).unwrap_or(&[]).chunks_exact(4).enumerate() {
        let off = if n == 0 {
            0
        } else {
            usize::from(u16::from_le_bytes([s[0], s[1]])) % STREAM
        };
        let len = usize::from(s[2]);
        let captured = if s[3] & 2 != 0 { len / 2 } else { len };
        any_cut |= captured < len;
        covered[off..off + len].iter_mut().for_each(|c| *c = true);
        let seq = Seq(isn).plus(off as u64);
        let bytes = &stream[off..off + captured];
        for _ in 0..=(s[3] & 1) {
            roomy.segment(seq, bytes, len as u64, false, at, &mut |p, _| match p {
                Piece::Data(d) => got.extend_from_slice(d),
                Piece::Gap(k) | Piece::Cut(k) => missing_roomy += k,
            });
            tiny.segment(seq, bytes, len as u64, false, at, &mut |p, _| match p {
                Piece::Data(d) => tiny_data += d.len() as u64,
                Piece::Gap(k) | Piece::Cut(k) => tiny_missing += k,
            });
        }
    }
    let end = covered.iter().rposition(|&c| c).map_or(0, |e| e + 1);
    let no_holes = covered[..end].iter().all(|&c| c);
    if no_holes && !any_cut && missing_roomy == 0 {
        roomy.flush(&mut |p, _| match p {
            Piece::Data(d) => got.extend_from_slice(d),
            Piece::Gap(_) | Piece::Cut(_) => panic!("a gap with every byte present"),
        });
        assert_eq!(got.len(), end, "delivered length");
        assert!(
            got == stream[..end],
            "delivered bytes differ from the stream"
        );
    }
    tiny.flush(&mut |p, _| match p {
        Piece::Data(d) => tiny_data += d.len() as u64,
        Piece::Gap(k) | Piece::Cut(k) => tiny_missing += k,
    });
    if covered[0] {
        assert_eq!(
            tiny_data + tiny_missing,
            end as u64,
            "tiny cap: delivered + missing"
        );
    }
}

/// MQTT framing and decoding: byte 0 picks the version the connection claims (none, 3.1,
/// 3.1.1, 5.0) and a packet cap; the rest is one direction's byte stream. Frames are taken
/// one after another; every whole frame is decoded. The frame lengths (and skipped
/// oversized lengths) must add up to the bytes consumed, and never pass the input's end
/// except for the declared length of an oversized packet.
pub fn mqtt_stream(data: &[u8]) {
    let Some((&pick, mut rest)) = data.split_first() else {
        return;
    };
    let version = [
        None,
        Some(Version::V31),
        Some(Version::V311),
        Some(Version::V5),
    ][usize::from(pick & 3)];
    let cap = [64usize, 1 << 10, 1 << 20, 268_435_455][usize::from(pick >> 2 & 3)];
    let total = rest.len();
    let mut consumed = 0usize;
    loop {
        match mqtt::frame(rest, cap) {
            Framing::Whole { len } => {
                assert!(len >= 2 && len <= rest.len() && len - 2 <= cap + 3);
                if let Ok(p) = mqtt::decode(&rest[..len], version) {
                    assert_eq!(p.kind() as usize + 1, usize::from(rest[0] >> 4));
                }
                consumed += len;
                rest = &rest[len..];
            }
            Framing::TooBig { len } => {
                assert!(len > cap);
                let skip = len.min(rest.len());
                consumed += skip;
                rest = &rest[skip..];
            }
            Framing::NeedMore { needed } => {
                assert!(needed >= 1);
                break;
            }
            Framing::Malformed => break,
        }
        if rest.is_empty() {
            break;
        }
    }
    assert_eq!(consumed + rest.len(), total, "frame lengths add up");
    // The whole stream once more through the plausibility check used after holes.
    let _ = mqtt::plausible_start(data);
}

/// The whole pipeline on an arbitrary capture file: the bytes are written to a temporary
/// file, read through the library's `Timeline` (libpcap) and analyzed with small caps so
/// every cap path runs.
pub fn pipeline(data: &[u8]) {
    let path = std::env::temp_dir().join(format!("dropscope-fuzz-{}.pcap", std::process::id()));
    let written = std::fs::File::create(&path).and_then(|mut f| f.write_all(data));
    if written.is_err() {
        return;
    }
    if let Ok(mut timeline) = Timeline::open(std::slice::from_ref(&path), None) {
        let cfg = Config {
            max_flows: 4,
            reassembly_cap: 512,
            max_packet: 256,
            max_connections: 8,
            timeline: (4, 4),
            mqtt_ports: vec![1883, 18830],
            ..Config::default()
        };
        let mut analyzer = Analyzer::new(cfg);
        timeline.for_each(|frame| analyzer.push(&frame));
        let warnings = timeline.warnings().to_vec();
        let analysis = analyzer.finish(vec![], warnings, timeline.frames_read());
        let mut sink = std::io::sink();
        dropscope::report::write_table(&analysis, false, &mut sink).expect("sink");
        dropscope::report::write_table(&analysis, true, &mut sink).expect("sink");
        dropscope::report::write_packets(&analysis, &mut sink).expect("sink");
        // Two threads: the connections go through the spliced writer.
        dropscope::report::write_json(&analysis, None, 2, &mut sink).expect("sink");
    }
    let _ = std::fs::remove_file(&path);
}

/// The TLS transport without keys: byte 0 says whether the capture holds the connection's
/// start (bit 0); the rest is a list of steps, each a 2-byte head (bit 0 the side, bits 1-2
/// data / gap / FIN / RST, bits 3-7 milliseconds since the previous step; then a length)
/// followed, for data, by that many bytes. Each step is a new frame. Must never panic; every
/// inferred packet and event must name a frame that was fed, and the bytes held must stay
/// under the caps (two record headers and bodies, two 64 KB handshake messages, a few
/// writes).
pub fn tls(data: &[u8]) {
    let Some((&flags, mut rest)) = data.split_first() else {
        return;
    };
    let mut t = TlsTransport::new(flags & 1 != 0);
    // Bit 1: a key log holding secrets for the all-zero client random, so that sessions the
    // input gives that random are decrypted (with keys that fail most tags: the fallback).
    let mut keys = KeyLog::default();
    if flags & 2 != 0 {
        let random = "00".repeat(32);
        let (s32, s48) = ("ab".repeat(32), "cd".repeat(48));
        keys.add_text(&format!(
            "CLIENT_RANDOM {random} {s48}\n\
             CLIENT_HANDSHAKE_TRAFFIC_SECRET {random} {s32}\n\
             SERVER_HANDSHAKE_TRAFFIC_SECRET {random} {s32}\n\
             CLIENT_TRAFFIC_SECRET_0 {random} {s32}\n\
             SERVER_TRAFFIC_SECRET_0 {random} {s32}\n"
        ));
    }
    let mut frame = 0u64;
    let mut ms = 0i64;
    let mut bad = None;
    let mut check = |o: TlsOutput, fed: u64| {
        let f = match o {
            TlsOutput::Inferred(p) => p.at.frame(),
            TlsOutput::Event(e) => e.at.frame(),
            TlsOutput::Plain { at, .. } | TlsOutput::Gap { at, .. } => at.frame(),
        };
        if f == 0 || f > fed {
            bad = Some(f);
        }
    };
    while let [head, len, tail @ ..] = rest {
        frame += 1;
        ms += i64::from(head >> 3);
        let at = FrameRef::new(frame, Timestamp(ms * 1_000_000));
        let side = if head & 1 == 0 { Side::Client } else { Side::Server };
        let len = usize::from(*len);
        let ev = match head >> 1 & 3 {
            0 => {
                let n = len.min(tail.len());
                let (bytes, after) = tail.split_at(n);
                rest = after;
                StreamEvent::Data { side, bytes, at }
            }
            1 => {
                rest = tail;
                StreamEvent::Gap { side, len: len as u64 * 97, at }
            }
            k => {
                rest = tail;
                let kind = if k == 2 { TcpEventKind::Fin } else { TcpEventKind::Rst };
                StreamEvent::Tcp(TcpEvent { at, side, kind })
            }
        };
        t.on_event(&ev, &keys, &mut |o| check(o, frame));
        assert!(t.buffered() <= 256 * 1024, "bytes held: {}", t.buffered());
    }
    t.finish(&mut |o| check(o, frame));
    assert_eq!(bad, None, "an output names a frame that was not fed");
    let _ = format!("{:?}", t.facts());
    let _ = dropscope::transport::tls::looks_like_client_hello(data);
}

/// The WebSocket reader: byte 0 bit 0 starts with a good upgrade (request and 101, so the
/// rest is read as frames), bit 1 with permessage-deflate accepted in it; then steps as in
/// [`tls`] (a 2-byte head: bit 0 side, bits 1-2 data / gap / close / close, bits 3-7
/// milliseconds; a length; for data, that many bytes). Must never panic; every event must
/// name a frame that was fed; the bytes held stay under the caps; without deflate, no side
/// gets more MQTT bytes plus gap bytes out than it put bytes plus gap bytes in.
pub fn ws(data: &[u8]) {
    use dropscope::transport::ws::{MAX_EARLY, MAX_HEAD, WsOutput, WsTransport};
    let Some((&flags, mut rest)) = data.split_first() else {
        return;
    };
    let mut t = WsTransport::new();
    let (mut put, mut got) = ([0u64; 2], [0u64; 2]);
    let mut bad = None;
    let mut frame = 0u64;
    let mut check = |o: WsOutput<'_>, fed: u64| {
        let f = match o {
            WsOutput::Mqtt { side, bytes, at } => {
                got[side.idx()] += bytes.len() as u64;
                at.frame()
            }
            WsOutput::Gap { side, len, at } => {
                got[side.idx()] += len;
                at.frame()
            }
            WsOutput::Event(e) => e.at.frame(),
        };
        if f == 0 || f > fed {
            bad = Some(f);
        }
    };
    if flags & 1 != 0 {
        let ext = if flags & 2 != 0 {
            "Sec-WebSocket-Extensions: permessage-deflate\r\n"
        } else {
            ""
        };
        let req = format!(
            "GET /mqtt HTTP/1.1\r\nHost: b\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
             Sec-WebSocket-Protocol: mqtt\r\n{ext}\r\n"
        );
        let resp = format!(
            "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
             Sec-WebSocket-Protocol: mqtt\r\n{ext}\r\n"
        );
        frame = 2;
        let at = |frame| FrameRef::new(frame, Timestamp(0));
        t.data(Side::Client, req.as_bytes(), at(1), &mut |o| check(o, 1));
        t.data(Side::Server, resp.as_bytes(), at(2), &mut |o| check(o, 2));
    }
    let mut ms = 0i64;
    while let [head, len, tail @ ..] = rest {
        frame += 1;
        ms += i64::from(head >> 3);
        let at = FrameRef::new(frame, Timestamp(ms * 1_000_000));
        let side = if head & 1 == 0 {
            Side::Client
        } else {
            Side::Server
        };
        let len = usize::from(*len);
        match head >> 1 & 3 {
            0 => {
                let n = len.min(tail.len());
                let (bytes, after) = tail.split_at(n);
                rest = after;
                put[side.idx()] += n as u64;
                t.data(side, bytes, at, &mut |o| check(o, frame));
            }
            1 => {
                rest = tail;
                let gap = len as u64 * 97;
                put[side.idx()] += gap;
                t.gap(side, gap, at, &mut |o| check(o, frame));
            }
            _ => {
                rest = tail;
                t.closed(side, at, &mut |o| check(o, frame));
            }
        }
        assert!(
            t.buffered() <= 2 * MAX_HEAD + MAX_EARLY + 2 * (14 + 125),
            "bytes held: {}",
            t.buffered()
        );
    }
    assert_eq!(bad, None, "an output names a frame that was not fed");
    if t.facts().deflate.is_none() {
        assert!(
            got[0] <= put[0] && got[1] <= put[1],
            "out {got:?} > in {put:?}"
        );
    }
    let _ = format!("{:?} {}", t.facts(), t.is_not_mqtt());
    let _ = dropscope::transport::ws::looks_like_upgrade(data);
}

//! `--keep`: a bounded ring of recent packets, and the pcap file of a dropped connection's
//! last seconds written from it.
//!
//! One ring for all flows, in arrival order: packets leave it when older than the retention
//! (the kept seconds plus the time a closed flow takes to be retired) or when the ring's byte
//! cap is reached, which is counted. A connection is written when it is retired, so the file
//! holds its last `keep` seconds before the close and every packet of it until retirement.

use crate::decode;
use crate::source::Frame;
use crate::time::{Span, Timestamp};
use crate::verdict::Judged;
use std::collections::VecDeque;
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};

type Key = (IpAddr, u16, IpAddr, u16);

fn key(a: SocketAddr, b: SocketAddr) -> Key {
    let (a, b) = if a <= b { (a, b) } else { (b, a) };
    (a.ip(), a.port(), b.ip(), b.port())
}

struct Kept {
    key: Key,
    ts: Timestamp,
    wire_len: u32,
    data: Box<[u8]>,
}

/// The ring.
pub struct Ring {
    dir: PathBuf,
    linktype: u32,
    keep: Span,
    retention: Span,
    cap_bytes: usize,
    bytes: usize,
    packets: VecDeque<Kept>,
    evicted: u64,
}

impl Ring {
    /// A ring writing into `dir` the last `keep` of each dropped connection, holding packets
    /// for `retention` (at least `keep`) and at most `cap_bytes` of them.
    pub fn new(dir: PathBuf, linktype: u32, keep: Span, retention: Span, cap_bytes: usize) -> Ring {
        Ring {
            dir,
            linktype,
            keep,
            retention: retention.max(keep),
            cap_bytes,
            bytes: 0,
            packets: VecDeque::new(),
            evicted: 0,
        }
    }

    /// Packets pushed out by the byte cap before their time.
    pub fn evicted(&self) -> u64 {
        self.evicted
    }

    /// Keeps a copy of one frame (if it is a TCP segment).
    pub fn push(&mut self, f: &Frame<'_>) {
        let cut = (f.data.len() as u32) < f.wire_len;
        let Ok(seg) = decode::decode(f.linktype, f.data, cut) else {
            return;
        };
        let k = key(
            SocketAddr::new(seg.src, seg.src_port),
            SocketAddr::new(seg.dst, seg.dst_port),
        );
        self.bytes += f.data.len();
        self.packets.push_back(Kept {
            key: k,
            ts: f.ts,
            wire_len: f.wire_len,
            data: f.data.into(),
        });
        while self.bytes > self.cap_bytes {
            self.pop();
            self.evicted += 1;
        }
        self.expire(f.ts);
    }

    /// Drops packets older than the retention at `now`.
    pub fn expire(&mut self, now: Timestamp) {
        while self
            .packets
            .front()
            .is_some_and(|p| now - p.ts > self.retention)
        {
            self.pop();
        }
    }

    fn pop(&mut self) {
        if let Some(p) = self.packets.pop_front() {
            self.bytes -= p.data.len();
        }
    }

    /// Writes the kept packets of `c` from `keep` before its end; returns the file's path.
    pub fn write(&self, c: &Judged) -> Result<PathBuf, pcap::Error> {
        let k = key(c.client, c.server);
        let from = c.end + Span(-self.keep.0);
        let path = self.dir.join(file_name(c));
        let dead = pcap::Capture::dead(pcap::Linktype(self.linktype as i32))?;
        let mut file = dead.savefile(&path)?;
        for p in self.packets.iter().filter(|p| p.key == k && p.ts >= from) {
            let header = header(p);
            file.write(&pcap::Packet::new(&header, &p.data));
        }
        file.flush()?;
        Ok(path)
    }
}

fn header(p: &Kept) -> pcap::PacketHeader {
    let secs = p.ts.0.div_euclid(1_000_000_000);
    let micros = p.ts.0.rem_euclid(1_000_000_000) / 1000;
    pcap::PacketHeader {
        ts: libc::timeval {
            tv_sec: secs as libc::time_t,
            tv_usec: micros as libc::suseconds_t,
        },
        caplen: p.data.len() as u32,
        len: p.wire_len,
    }
}

/// `<client id>-<cause>-<end, unix seconds>-<client port>.pcap`, the client id reduced to
/// characters safe in a file name.
fn file_name(c: &Judged) -> String {
    let id: String = c
        .client_id
        .as_deref()
        .filter(|s| !s.is_empty())
        .unwrap_or("no-client-id")
        .chars()
        .take(64)
        .map(|ch| {
            if ch.is_ascii_alphanumeric() || "-_.".contains(ch) {
                ch
            } else {
                '_'
            }
        })
        .collect();
    let cause = c.verdict.cause.name();
    let end = c.end.0.div_euclid(1_000_000_000);
    format!("{id}-{cause}-{end}-{}.pcap", c.client.port())
}

/// Whether `dir` can take files (checked at start, so a bad `--keep` fails early).
pub fn check_dir(dir: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)?;
    let probe = dir.join(".dropscope-probe");
    std::fs::write(&probe, b"")?;
    std::fs::remove_file(probe)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(ts: i64, data: &[u8]) -> Frame<'_> {
        Frame {
            number: 1,
            ts: Timestamp::from_parts(ts, 0),
            linktype: 1,
            data,
            wire_len: data.len() as u32,
            lent: None,
        }
    }

    /// An Ethernet + IPv4 + TCP SYN from 10.0.0.1:5000 to 10.0.0.2:1883.
    fn syn() -> Vec<u8> {
        let mut f = vec![0u8; 12];
        f.extend_from_slice(&[0x08, 0x00]);
        f.extend_from_slice(&[
            0x45, 0, 0, 40, 0, 0, 0, 0, 64, 6, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2,
        ]);
        f.extend_from_slice(&[0x13, 0x88, 0x07, 0x5b, 0, 0, 0, 1, 0, 0, 0, 0, 0x50, 0x02]);
        f.extend_from_slice(&[0xff, 0xff, 0, 0, 0, 0]);
        f
    }

    #[test]
    fn expires_by_age_and_counts_cap_evictions() {
        let dir = std::env::temp_dir();
        let s = syn();
        let mut r = Ring::new(dir, 1, Span::from_secs(5), Span::from_secs(10), s.len() * 2);
        r.push(&frame(0, &s));
        r.push(&frame(1, &s));
        assert_eq!((r.packets.len(), r.evicted()), (2, 0));
        r.push(&frame(2, &s));
        assert_eq!((r.packets.len(), r.evicted()), (2, 1));
        r.expire(Timestamp::from_parts(13, 0));
        assert_eq!(r.packets.len(), 0);
        assert_eq!(r.bytes, 0);
    }

    #[test]
    fn ignores_frames_that_are_not_tcp() {
        let mut r = Ring::new(
            std::env::temp_dir(),
            1,
            Span::from_secs(5),
            Span::from_secs(5),
            1 << 20,
        );
        r.push(&frame(0, &[0u8; 20]));
        assert!(r.packets.is_empty());
    }
}

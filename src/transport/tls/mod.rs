//! TLS: both directions of one TCP connection read as TLS records, the handshake's
//! plaintext facts (version, suite, SNI, ALPN, certificates, alerts), and either the
//! decrypted application bytes (when a key log holds the session: `decrypt` for the key
//! schedules and ciphers, `decrypting` for which key opens each record) or, without keys,
//! MQTT packets inferred from the sizes of encrypted records.
//!
//! Sans-IO: [`TlsTransport`] takes the TCP stage's [`StreamEvent`]s in stream order and calls
//! back with [`TlsOutput`]s; time comes only from the frames. Files: `record` (framing per
//! direction, gaps and resync), `handshake` (messages via tls-parser and x509-parser),
//! `sizes` (record length → plaintext length per suite family), `state` (the handshake
//! followed record by record, decrypting when it can), `infer` and `writes` (MQTT packets from record sizes, the
//! keepalive from their cadence), `facts` (the output types).
//!
//! Without keys the handshake state is followed from content types and sizes alone:
//! - TLS 1.2: after a side's change_cipher_spec its next record (type 22) is its encrypted
//!   Finished, not data; data is type 23; alerts stay type 21 even when encrypted (26 bytes
//!   with GCM: almost always close_notify when the sender's FIN follows). A resumed session
//!   (session id echoed) has the server's change_cipher_spec first.
//! - TLS 1.3: everything after the ServerHello is type 23 (plus a compatibility
//!   change_cipher_spec). The server's encrypted flight comes first; the client's flight
//!   ends with its Finished (4 + hash length plaintext: 53-byte records with SHA-256 suites,
//!   69 with SHA-384), and only client records after it are application data.

pub mod decrypt;
mod decrypting;
mod facts;
mod handshake;
mod infer;
mod record;
mod sizes;
mod state;
#[cfg(test)]
mod tests;
mod upgrade;
mod writes;

pub use facts::{
    AlertFact, CloseNotifyFact, DecryptStatus, DecryptionFacts, InferredPacket, PerSide, TlsEvent,
    TlsEventKind, TlsFacts, TlsOutput,
};
pub use handshake::CertFacts;
pub use sizes::{PlainLen, plaintext_len};
pub use writes::infer_keepalive;

#[cfg(test)]
use crate::evidence::FrameRef;
use crate::tcp::{Side, StreamEvent, TcpEventKind};
use decrypt::KeyLog;
use handshake::HandshakeReader;
use record::RecordReader;
use state::Conn;
use std::cell::Cell;
use tls_parser::parse_tls_record_header;

/// One TCP connection read as TLS, both directions.
pub struct TlsTransport {
    readers: [RecordReader; 2],
    conn: Conn,
}

impl TlsTransport {
    /// A connection whose start (SYN) is in the capture when `start_seen`; otherwise the
    /// readers start unsynced and wait for a plausible record header.
    pub fn new(start_seen: bool) -> Self {
        TlsTransport {
            readers: [RecordReader::new(start_seen), RecordReader::new(start_seen)],
            conn: Conn::new(start_seen),
        }
    }

    /// Takes the TCP stage's next event (data, gap, FIN/RST) for this connection; `keys`
    /// is the key log (empty when none was given).
    pub fn on_event(
        &mut self,
        ev: &StreamEvent<'_>,
        keys: &KeyLog,
        out: &mut impl FnMut(TlsOutput),
    ) {
        if self.conn.dead {
            return;
        }
        let conn = &mut self.conn;
        match *ev {
            StreamEvent::Data { side, bytes, at } => {
                let keep = Cell::new(conn.decrypting());
                self.readers[side.idx()].data(bytes, at, &keep, &mut |p| {
                    conn.piece(side, p, keys, out);
                    keep.set(conn.decrypting());
                });
            }
            StreamEvent::Gap { side, len, at } => {
                conn.facts.gaps += 1;
                self.readers[side.idx()].gap(len, at, &mut |p| conn.piece(side, p, keys, out));
            }
            StreamEvent::Tcp(t) if matches!(t.kind, TcpEventKind::Fin | TcpEventKind::Rst) => {
                conn.close(t.side, t.at, matches!(t.kind, TcpEventKind::Fin), out);
            }
            StreamEvent::Tcp(_) => {}
        }
    }

    /// End of the capture or retirement of the connection: decides everything held.
    pub fn finish(&mut self, out: &mut impl FnMut(TlsOutput)) {
        let c = &mut self.conn;
        for side in [Side::Client, Side::Server] {
            c.flush_enc_alert(side, out);
        }
        c.finish_inference(out);
    }

    /// The TLS facts so far.
    pub fn facts(&self) -> &TlsFacts {
        &self.conn.facts
    }

    /// Whether the records read without keys show WebSocket inside (`wss://`).
    pub fn inferred_ws(&self) -> bool {
        self.conn.infer.is_ws()
    }

    /// Bytes held for records, handshake messages and small writes (bounded: two record
    /// headers and bodies, two handshake messages up to the 64 KB cap, a few writes).
    pub fn buffered(&self) -> usize {
        self.readers
            .iter()
            .map(RecordReader::buffered)
            .sum::<usize>()
            + self
                .conn
                .hs
                .iter()
                .map(HandshakeReader::buffered)
                .sum::<usize>()
            + self.conn.infer.held()
    }
}

/// Whether a connection's first client bytes look like a TLS ClientHello, on any port: a
/// handshake record header with a plausible version and length, a ClientHello message type,
/// and, when that far is present, a plausible message length and client version.
pub fn looks_like_client_hello(first_client_bytes: &[u8]) -> bool {
    let b = first_client_bytes;
    let Ok((_, h)) = parse_tls_record_header(b) else {
        return false;
    };
    let len = usize::from(h.len);
    if h.record_type.0 != 22
        || !(0x0300..=0x0304).contains(&h.version.0)
        || len > record::MAX_RECORD
    {
        return false;
    }
    // Only a prefix of the message may be at hand, and tls-parser needs all of it, so the
    // few fixed fields are read here: type, 24-bit length, client_version.
    if b.get(5) != Some(&1) {
        return false;
    }
    if let Some(l) = b.get(6..9) {
        let msg = usize::from(l[0]) << 16 | usize::from(l[1]) << 8 | usize::from(l[2]);
        // A ClientHello has at least version, random, three length bytes and a suite.
        if !(38..=handshake::MAX_HANDSHAKE).contains(&msg) {
            return false;
        }
    }
    b.get(9..11).is_none_or(|v| v[0] == 3 && v[1] <= 4)
}

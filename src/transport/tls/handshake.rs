//! Plaintext handshake messages: reassembled across records (a message may span several
//! records, a record may hold several messages) and read with tls-parser and x509-parser.

use serde::Serialize;
use tls_parser::{
    TlsExtension, TlsMessage, TlsMessageHandshake, parse_tls_client_hello_extensions,
    parse_tls_message_handshake, parse_tls_server_hello_extensions,
};
use x509_parser::prelude::{FromDer, X509Certificate};

use crate::time::Timestamp;

/// Cap on the bytes held for one handshake message split across records. A certificate
/// chain of a few certificates fits; anything larger is skipped and counted.
pub const MAX_HANDSHAKE: usize = 64 * 1024;

/// The random of a HelloRetryRequest (RFC 8446 §4.1.3): SHA-256 of "HelloRetryRequest".
const HRR_RANDOM: [u8; 32] = [
    0xcf, 0x21, 0xad, 0x74, 0xe5, 0x9a, 0x61, 0x11, 0xbe, 0x1d, 0x8c, 0x02, 0x1e, 0x65, 0xb8, 0x91,
    0xc2, 0xa2, 0x11, 0x16, 0x7a, 0xbb, 0x8c, 0x5e, 0x07, 0x9e, 0x09, 0xe2, 0xc8, 0xa8, 0x33, 0x9c,
];

/// Who a certificate names, and until when it is valid.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CertFacts {
    /// Subject distinguished name.
    pub subject: String,
    /// Issuer distinguished name.
    pub issuer: String,
    /// End of validity.
    pub not_after: Timestamp,
}

/// What one handshake message said, reduced to what the transport needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Message {
    /// ClientHello.
    ClientHello {
        /// The client random: the key a key log files a session's secrets under.
        random: [u8; 32],
        /// Server name (SNI).
        sni: Option<String>,
        /// ALPN protocols offered.
        alpn: Vec<String>,
        /// supported_versions, when present.
        versions: Vec<u16>,
        /// legacy_session_id.
        session_id: Vec<u8>,
        /// A session ticket (non-empty) or a pre-shared key was offered.
        resumption_offered: bool,
        /// encrypt_then_mac offered.
        etm: bool,
    },
    /// ServerHello (or HelloRetryRequest, `retry`).
    ServerHello {
        /// The server random (TLS 1.2 key expansion).
        random: [u8; 32],
        /// The negotiated version (supported_versions for 1.3, else the legacy field).
        version: u16,
        /// The chosen suite.
        suite: u16,
        /// legacy_session_id echoed.
        session_id: Vec<u8>,
        /// ALPN chosen.
        alpn: Option<String>,
        /// pre_shared_key accepted (TLS 1.3 resumption).
        psk: bool,
        /// encrypt_then_mac accepted.
        etm: bool,
        /// The special random of a HelloRetryRequest.
        retry: bool,
    },
    /// Certificate: the first (leaf) certificate, when it parses.
    Certificate(Option<CertFacts>),
    /// ServerHelloDone.
    ServerDone,
    /// NewSessionTicket (plaintext in TLS 1.2, decrypted in 1.3).
    NewSessionTicket,
    /// Finished: read only once decrypted.
    Finished,
    /// TLS 1.3 KeyUpdate (decrypted): the sender's next records use its next secret.
    KeyUpdate,
    /// Any other message type.
    Other(u8),
}

/// Reassembly of one direction's plaintext handshake messages.
#[derive(Default)]
pub struct HandshakeReader {
    buf: Vec<u8>,
    /// Bytes still to pass over of a message longer than the cap.
    skip: usize,
    /// Messages skipped for being longer than the cap.
    pub oversized: u64,
}

impl HandshakeReader {
    /// Bytes held for a message split across records.
    pub fn buffered(&self) -> usize {
        self.buf.len()
    }

    /// Takes one plaintext handshake record's body and reports every message it completes.
    pub fn record(&mut self, mut body: &[u8], out: &mut impl FnMut(Message)) {
        if self.skip > 0 {
            let n = self.skip.min(body.len());
            self.skip -= n;
            body = &body[n..];
        }
        if self.buf.is_empty() {
            let used = self.messages(body, out);
            body = &body[used..];
        } else {
            self.buf.extend_from_slice(body);
            let buf = std::mem::take(&mut self.buf);
            let used = self.messages(&buf, out);
            body = &[];
            self.buf = buf;
            self.buf.drain(..used);
        }
        if !body.is_empty() && self.skip == 0 {
            self.buf.extend_from_slice(body);
        }
        if self.skip > 0 {
            self.buf.clear();
        }
    }

    /// Reports the whole messages at the start of `b`; returns the bytes used.
    fn messages(&mut self, b: &[u8], out: &mut impl FnMut(Message)) -> usize {
        let mut used = 0;
        // The 4-byte message header (type, 24-bit length) is read here only to know when a
        // message is complete; tls-parser reads the message itself.
        while let Some(h) = b.get(used..used + 4) {
            let len = 4 + (usize::from(h[1]) << 16 | usize::from(h[2]) << 8 | usize::from(h[3]));
            if len > MAX_HANDSHAKE {
                self.oversized += 1;
                let have = b.len() - used;
                self.skip = len.saturating_sub(have);
                return b.len();
            }
            let Some(msg) = b.get(used..used + len) else {
                break;
            };
            out(read(msg));
            used += len;
        }
        used
    }
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// Reads one whole handshake message with tls-parser.
pub fn read(msg: &[u8]) -> Message {
    let Ok((_, TlsMessage::Handshake(m))) = parse_tls_message_handshake(msg) else {
        return Message::Other(msg[0]);
    };
    match m {
        TlsMessageHandshake::ClientHello(ch) => {
            let exts = ch
                .ext
                .and_then(|e| parse_tls_client_hello_extensions(e).ok())
                .map(|(_, v)| v)
                .unwrap_or_default();
            let mut out = Message::ClientHello {
                random: random32(ch.random),
                sni: None,
                alpn: Vec::new(),
                versions: Vec::new(),
                session_id: ch.session_id.unwrap_or_default().to_vec(),
                resumption_offered: false,
                etm: false,
            };
            if let Message::ClientHello {
                sni,
                alpn,
                versions,
                resumption_offered,
                etm,
                ..
            } = &mut out
            {
                for e in &exts {
                    match e {
                        TlsExtension::SNI(names) => *sni = names.first().map(|(_, n)| text(n)),
                        TlsExtension::ALPN(p) => *alpn = p.iter().map(|p| text(p)).collect(),
                        TlsExtension::SupportedVersions(v) => {
                            *versions = v.iter().map(|v| v.0).collect()
                        }
                        TlsExtension::SessionTicket(t) => *resumption_offered |= !t.is_empty(),
                        TlsExtension::PreSharedKey(_) => *resumption_offered = true,
                        TlsExtension::EncryptThenMac => *etm = true,
                        _ => {}
                    }
                }
            }
            out
        }
        TlsMessageHandshake::ServerHello(sh) => {
            let exts = sh
                .ext
                .and_then(|e| parse_tls_server_hello_extensions(e).ok())
                .map(|(_, v)| v)
                .unwrap_or_default();
            let (mut version, mut alpn, mut psk, mut etm) = (sh.version.0, None, false, false);
            for e in &exts {
                match e {
                    TlsExtension::SupportedVersions(v) => {
                        version = v.first().map_or(version, |v| v.0)
                    }
                    TlsExtension::ALPN(p) => alpn = p.first().map(|p| text(p)),
                    TlsExtension::PreSharedKey(_) => psk = true,
                    TlsExtension::EncryptThenMac => etm = true,
                    _ => {}
                }
            }
            Message::ServerHello {
                random: random32(sh.random),
                version,
                suite: sh.cipher.0,
                session_id: sh.session_id.unwrap_or_default().to_vec(),
                alpn,
                psk,
                etm,
                retry: sh.random == HRR_RANDOM,
            }
        }
        TlsMessageHandshake::Certificate(c) => {
            Message::Certificate(c.cert_chain.first().and_then(|raw| cert(raw.data)))
        }
        TlsMessageHandshake::ServerDone(_) => Message::ServerDone,
        TlsMessageHandshake::NewSessionTicket(_) => Message::NewSessionTicket,
        TlsMessageHandshake::Finished(_) => Message::Finished,
        TlsMessageHandshake::KeyUpdate(_) => Message::KeyUpdate,
        _ => Message::Other(msg[0]),
    }
}

/// A hello's random as an array (tls-parser checks it is 32 bytes).
fn random32(r: &[u8]) -> [u8; 32] {
    let mut out = [0; 32];
    if let Some(r) = r.get(..32) {
        out.copy_from_slice(r);
    }
    out
}

fn cert(der: &[u8]) -> Option<CertFacts> {
    let (_, c) = X509Certificate::from_der(der).ok()?;
    Some(CertFacts {
        subject: c.subject().to_string(),
        issuer: c.issuer().to_string(),
        not_after: Timestamp::from_parts(c.validity().not_after.timestamp(), 0),
    })
}

//! What the transport saw of TLS on one connection, and the events it reports.

use super::handshake::CertFacts;
use super::sizes::PlainLen;
use crate::evidence::FrameRef;
use crate::mqtt::PacketKind;
use crate::tcp::Side;
use crate::time::Span;
use serde::Serialize;

/// Cap on the alerts kept in the facts (a connection has one or two; the cap is for
/// garbage that resyncs on alert-looking headers).
pub const MAX_ALERTS: usize = 16;

/// A value per side.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct PerSide<T> {
    /// The client's.
    pub client: T,
    /// The server's.
    pub server: T,
}

impl<T> PerSide<T> {
    /// The value of `side`.
    pub fn get(&self, side: Side) -> &T {
        match side {
            Side::Client => &self.client,
            Side::Server => &self.server,
        }
    }

    /// The value of `side`, to change.
    pub fn get_mut(&mut self, side: Side) -> &mut T {
        match side {
            Side::Client => &mut self.client,
            Side::Server => &mut self.server,
        }
    }
}

/// An alert, plaintext or encrypted.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AlertFact {
    /// Where.
    #[serde(flatten)]
    pub at: FrameRef,
    /// Who sent it.
    pub side: Side,
    /// 1 warning, 2 fatal; `None` when encrypted.
    pub level: Option<u8>,
    /// The description code (40 handshake_failure, 42 bad_certificate, 45
    /// certificate_expired, 48 unknown_ca, 70 protocol_version, 116 certificate_required…);
    /// `None` when encrypted.
    pub description: Option<u8>,
    /// Its name as tls-parser spells it, when known.
    pub name: Option<String>,
    /// Seen only as an encrypted record.
    pub encrypted: bool,
}

/// A side's close_notify.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct CloseNotifyFact {
    /// Where.
    #[serde(flatten)]
    pub at: FrameRef,
    /// Guessed from an encrypted record's size and place (just before its sender's FIN),
    /// not read in plaintext.
    pub guessed: bool,
}

/// TLS facts of one connection, seen without keys.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct TlsFacts {
    /// The negotiated version (0x0303 TLS 1.2, 0x0304 TLS 1.3: from supported_versions).
    pub version: Option<u16>,
    /// The negotiated version's name ("TLS 1.2").
    pub version_name: Option<&'static str>,
    /// The chosen cipher suite's id.
    pub cipher_suite: Option<u16>,
    /// Its IANA name, from tls-parser's table.
    pub cipher_suite_name: Option<&'static str>,
    /// Server name the client asked for.
    pub sni: Option<String>,
    /// ALPN protocols the client offered.
    pub alpn_offered: Vec<String>,
    /// ALPN protocol the server chose (TLS 1.2 only: in 1.3 it is encrypted).
    pub alpn: Option<String>,
    /// An abbreviated handshake (session id echoed in 1.2, pre_shared_key in 1.3).
    pub resumed: bool,
    /// The server asked the client to try again (HelloRetryRequest).
    pub hello_retry: bool,
    /// The client's certificate (TLS 1.2: plaintext).
    pub client_cert: Option<CertFacts>,
    /// The server's leaf certificate (TLS 1.2: plaintext).
    pub server_cert: Option<CertFacts>,
    /// The frame of the ClientHello (the last one, after a HelloRetryRequest).
    pub client_hello: Option<FrameRef>,
    /// The frame of the ServerHello.
    pub server_hello: Option<FrameRef>,
    /// The frame that completed the handshake (the last Finished).
    pub handshake_done: Option<FrameRef>,
    /// ServerHello time less ClientHello time.
    pub handshake_rtt: Option<Span>,
    /// Both Finished messages were seen (or inferred, in 1.3).
    pub handshake_complete: bool,
    /// The connection closed (FIN or RST, either side) before the handshake completed.
    pub closed_in_handshake: bool,
    /// Alerts, first [`MAX_ALERTS`].
    pub alerts: Vec<AlertFact>,
    /// close_notify per side.
    pub close_notify: PerSide<Option<CloseNotifyFact>>,
    /// Records per side.
    pub records: PerSide<u64>,
    /// TLS 1.3 session tickets (encrypted records inferred as tickets) or 1.2 plaintext ones.
    pub tickets: u64,
    /// Gaps in either direction.
    pub gaps: u64,
    /// Times sync was regained after lost bytes.
    pub resyncs: u64,
    /// The bytes are not TLS (the first client record, or bytes where a header was due).
    pub not_tls: bool,
    /// Handshake messages passed over for being longer than the cap.
    pub oversized_handshakes: u64,
    /// How decryption went, when a key log was given.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub decryption: Option<DecryptionFacts>,
}

/// Whether a connection could be decrypted with the key log given.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum DecryptStatus {
    /// Not decided yet (no ServerHello seen).
    #[default]
    Pending,
    /// The records were decrypted.
    Decrypted,
    /// The key log has no secrets for this session (its client random).
    NoKeys,
    /// The capture starts after the handshake: the session cannot be identified, so it is
    /// not decrypted (never guessed).
    MidSession,
    /// The cipher suite is not one dropscope decrypts.
    Unsupported,
    /// Records failed their authentication: the keys are wrong or stale. The rest of the
    /// connection is read without keys.
    Failed,
}

/// How decryption went on one connection.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct DecryptionFacts {
    /// The outcome.
    pub status: DecryptStatus,
    /// Records decrypted per side.
    pub records: PerSide<u64>,
    /// Records that failed their authentication tag (wrong or stale keys).
    pub bad_tag: u64,
    /// Records too short or badly padded to be opened.
    pub malformed: u64,
    /// Records cut by capture holes, not decryptable.
    pub lost: PerSide<u64>,
}

/// A TLS happening with where and who; the shape of [`crate::tcp::TcpEvent`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct TlsEvent {
    /// The frame (of the record's last byte).
    #[serde(flatten)]
    pub at: FrameRef,
    /// Who sent it.
    pub side: Side,
    /// What it was.
    #[serde(flatten)]
    pub kind: TlsEventKind,
}

/// What a TLS event was.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(tag = "tls", rename_all = "snake_case")]
pub enum TlsEventKind {
    /// The client's hello.
    ClientHello,
    /// The server's hello.
    ServerHello {
        /// Negotiated version.
        version: u16,
        /// Chosen suite.
        suite: u16,
        /// Abbreviated handshake.
        resumed: bool,
    },
    /// A HelloRetryRequest: the handshake starts over.
    HelloRetryRequest,
    /// A plaintext Certificate message.
    Certificate,
    /// A change_cipher_spec record.
    ChangeCipherSpec,
    /// The handshake completed.
    HandshakeDone,
    /// A TLS 1.3 session ticket (inferred from size) or a TLS 1.2 NewSessionTicket.
    SessionTicket,
    /// An alert.
    Alert {
        /// 1 warning, 2 fatal; null when encrypted.
        level: Option<u8>,
        /// The description code; null when encrypted.
        description: Option<u8>,
        /// Seen only as an encrypted record.
        encrypted: bool,
    },
    /// A close_notify alert.
    CloseNotify {
        /// Guessed from size and place rather than read.
        guessed: bool,
    },
    /// The bytes are not TLS.
    NotTls,
    /// Sync regained after lost bytes.
    Resynced,
}

/// An MQTT packet inferred from the size of encrypted records.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct InferredPacket {
    /// The frame carrying the last byte of its last record.
    #[serde(flatten)]
    pub at: FrameRef,
    /// Who sent it.
    pub side: Side,
    /// What it most likely is.
    pub kind: PacketKind,
    /// Its plaintext length (of the whole write).
    pub len: PlainLen,
    /// Why this kind.
    pub reason: &'static str,
}

/// What the TLS transport reports, in stream order except that a small write is reported
/// when the next event decides it (at most until the next event of the connection).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TlsOutput<'a> {
    /// An MQTT packet inferred from record sizes.
    Inferred(InferredPacket),
    /// A TLS fact as it happened.
    Event(TlsEvent),
    /// Decrypted application data.
    Plain {
        /// The sender.
        side: Side,
        /// The plaintext.
        bytes: &'a [u8],
        /// The frame of the record's last byte.
        at: FrameRef,
    },
    /// Application data of a record that could not be decrypted (cut by a capture hole, or
    /// failing its tag): the plaintext stream has a hole of about this many bytes.
    Gap {
        /// The sender.
        side: Side,
        /// The record's length.
        len: u64,
        /// The frame of the record's last byte.
        at: FrameRef,
    },
}

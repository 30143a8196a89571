//! The connection's TLS state without keys: what each record means given the handshake so
//! far (see the module documentation of `tls` for the rules), and the facts it leaves.

use super::decrypt::KeyLog;
use super::decrypting::{Decrypting, Hello, Opened};
use super::facts::{
    self, AlertFact, CloseNotifyFact, DecryptStatus, TlsEvent, TlsEventKind, TlsFacts, TlsOutput,
};
use super::handshake::{HandshakeReader, Message};
use super::infer::{Inferer, Note};
use super::record::{Header, Piece};
use super::sizes::{PlainLen, TLS13, finished13_len, plaintext_len};
use crate::evidence::FrameRef;
use crate::tcp::Side;
use tls_parser::{TlsCipherSuite, TlsMessage, parse_tls_message_alert};

/// Client records of a TLS 1.3 handshake flight after which the Finished is assumed seen
/// even if none had its size (Certificate, CertificateVerify, Finished: three at most in
/// practice).
const MAX_CLIENT_FLIGHT: u8 = 4;

/// Everything but the record readers, so a reader's pieces can change it.
pub(super) struct Conn {
    pub(super) start_seen: bool,
    pub(super) hs: [HandshakeReader; 2],
    pub(super) facts: TlsFacts,
    pub(super) infer: Inferer,
    pub(super) dead: bool,
    pub(super) any_record: bool,
    pub(super) client_session_id: Vec<u8>,
    pub(super) etm: bool,
    pub(super) tls13: bool,
    pub(super) ccs: [bool; 2],
    pub(super) finished: [bool; 2],
    pub(super) client_flight: u8,
    /// TLS 1.2: an encrypted alert after the handshake, the side's last record so far.
    pub(super) enc_alert: [Option<FrameRef>; 2],
    /// The ClientHello's random, which names the session in a key log.
    client_random: Option<[u8; 32]>,
    /// Decryption, when the key log holds this session.
    decrypting: Option<Box<Decrypting>>,
    /// What the ServerHello chose, while the session's keys are wanted.
    hello: Option<Hello>,
    /// Key log entries when the session's keys were last looked for.
    keys_looked_at: usize,
}

/// One record as the reader gave it.
#[derive(Clone, Copy)]
struct Rec<'a> {
    hdr: Header,
    body: Option<&'a [u8]>,
    cut: bool,
    at: FrameRef,
}

fn event(out: &mut impl FnMut(TlsOutput), at: FrameRef, side: Side, kind: TlsEventKind) {
    out(TlsOutput::Event(TlsEvent { at, side, kind }));
}

fn version_name(v: u16) -> Option<&'static str> {
    Some(match v {
        0x0300 => "SSL 3.0",
        0x0301 => "TLS 1.0",
        0x0302 => "TLS 1.1",
        0x0303 => "TLS 1.2",
        0x0304 => "TLS 1.3",
        _ => return None,
    })
}

impl Conn {
    pub(super) fn new(start_seen: bool) -> Self {
        Conn {
            start_seen,
            hs: Default::default(),
            facts: TlsFacts::default(),
            infer: Inferer::default(),
            dead: false,
            any_record: false,
            client_session_id: Vec::new(),
            etm: false,
            tls13: false,
            ccs: [false; 2],
            finished: [false; 2],
            client_flight: 0,
            enc_alert: [None; 2],
            client_random: None,
            decrypting: None,
            hello: None,
            keys_looked_at: 0,
        }
    }

    /// Whether application record bodies are needed (the connection is being decrypted).
    pub(super) fn decrypting(&self) -> bool {
        self.decrypting.is_some()
    }

    pub(super) fn piece(
        &mut self,
        side: Side,
        p: Piece<'_>,
        keys: &KeyLog,
        out: &mut impl FnMut(TlsOutput),
    ) {
        if self.dead {
            return;
        }
        match p {
            Piece::NotTls(at) => {
                self.facts.not_tls = true;
                event(out, at, side, TlsEventKind::NotTls);
                // At the start, the connection is not TLS at all: stop reading it.
                self.dead = !self.any_record && self.start_seen;
            }
            Piece::Resynced(at) => {
                if let Some(d) = &mut self.decrypting {
                    d.hole(side);
                }
                self.facts.resyncs += 1;
                event(out, at, side, TlsEventKind::Resynced);
            }
            Piece::Record { hdr, body, cut, at } => {
                let r = Rec { hdr, body, cut, at };
                if self.decrypting.is_none() && keys.len() != self.keys_looked_at {
                    self.try_decrypt(keys, true);
                }
                if self.decrypting.as_ref().is_some_and(|d| d.opens(side, hdr)) {
                    self.decrypted(side, r, keys, out);
                } else {
                    self.record(side, r, keys, out);
                }
            }
        }
    }

    fn record(&mut self, side: Side, r: Rec<'_>, keys: &KeyLog, out: &mut impl FnMut(TlsOutput)) {
        let Rec { hdr, body, cut, at } = r;
        if !self.any_record && self.start_seen && (side != Side::Client || hdr.ty != 22) {
            self.facts.not_tls = true;
            self.dead = true;
            event(out, at, side, TlsEventKind::NotTls);
            return;
        }
        self.any_record = true;
        *self.facts.records.get_mut(side) += 1;
        if hdr.ty != 21 {
            self.flush_enc_alert(side, out);
        }
        match hdr.ty {
            20 => {
                event(out, at, side, TlsEventKind::ChangeCipherSpec);
                if let Some(d) = &mut self.decrypting {
                    d.change_cipher_spec(side);
                }
                if !self.tls13 {
                    // The server changing cipher first is the abbreviated (resumed) handshake.
                    if side == Side::Server && !self.ccs[Side::Client.idx()] {
                        self.facts.resumed = true;
                    }
                    self.ccs[side.idx()] = true;
                }
            }
            21 => self.alert(side, body, at, out),
            22 if self.ccs[side.idx()] && !self.tls13 => {
                // This side's encrypted Finished.
                self.finished[side.idx()] = true;
                if self.finished == [true; 2] {
                    self.complete(side, at, out);
                }
            }
            22 => {
                let Some(body) = body.filter(|_| !cut) else {
                    return;
                };
                let mut msgs: Vec<Message> = Vec::new();
                self.hs[side.idx()].record(body, &mut |m| msgs.push(m));
                self.facts.oversized_handshakes = self.hs[0].oversized + self.hs[1].oversized;
                for m in msgs {
                    self.message(side, m, at, keys, out);
                }
            }
            23 => {
                if !keys.is_empty() && self.facts.decryption.is_none() {
                    // Application data with no ServerHello before it: the capture starts
                    // after the handshake, and the session is unknown.
                    self.facts.decryption = Some(facts::DecryptionFacts {
                        status: DecryptStatus::MidSession,
                        ..Default::default()
                    });
                }
                self.application(side, hdr, at, out)
            }
            _ => {}
        }
    }

    /// Looks for the session's keys once the ServerHello is known (again on later records
    /// when the key log has grown: a live log written during the capture).
    fn try_decrypt(&mut self, keys: &KeyLog, late: bool) {
        self.keys_looked_at = keys.len();
        let Some(hello) = self.hello.filter(|_| !keys.is_empty()) else {
            return;
        };
        let f = self.facts.decryption.get_or_insert_default();
        match Decrypting::start(keys, self.client_random, hello, self.ccs, late) {
            Ok(d) => {
                f.status = DecryptStatus::Decrypted;
                self.decrypting = Some(Box::new(d));
                self.hello = None;
            }
            Err(status) => f.status = status,
        }
    }

    /// An encrypted record of a connection being decrypted: what it holds, read as if it
    /// had been plaintext. If the keys turn out wrong, it and the rest go to inference.
    fn decrypted(
        &mut self,
        side: Side,
        r: Rec<'_>,
        keys: &KeyLog,
        out: &mut impl FnMut(TlsOutput),
    ) {
        let Some(d) = self.decrypting.as_mut() else {
            return;
        };
        let f = self.facts.decryption.get_or_insert_default();
        let opened = d.open(side, r.hdr, r.body.filter(|_| !r.cut), f);
        if let Opened::GaveUp = opened {
            // The keys are wrong: this record and the rest are read as without keys.
            self.decrypting = None;
            return self.record(side, r, keys, out);
        }
        *self.facts.records.get_mut(side) += 1;
        self.any_record = true;
        let Opened::Record(ty) = opened else {
            // Not opened: the plaintext stream has a hole where its data was.
            if r.hdr.ty == 23 {
                let len = r.hdr.len as u64;
                out(TlsOutput::Gap {
                    side,
                    len,
                    at: r.at,
                });
            }
            return;
        };
        let plain = std::mem::take(&mut d.plain);
        let at = r.at;
        match ty {
            21 => self.alert(side, Some(&plain), at, out),
            22 => {
                let mut msgs: Vec<Message> = Vec::new();
                self.hs[side.idx()].record(&plain, &mut |m| msgs.push(m));
                for m in msgs {
                    self.message(side, m, at, keys, out);
                }
            }
            23 if !plain.is_empty() => out(TlsOutput::Plain {
                side,
                bytes: &plain,
                at,
            }),
            _ => {}
        }
        if let Some(d) = self.decrypting.as_mut() {
            d.plain = plain;
        }
    }

    /// A decrypted Finished: the side's handshake is over (TLS 1.3: its next records are
    /// under application keys); the client's, or both in TLS 1.2, complete the handshake.
    fn finished_read(&mut self, side: Side, at: FrameRef, out: &mut impl FnMut(TlsOutput)) {
        self.finished[side.idx()] = true;
        if let Some(d) = &mut self.decrypting {
            d.finished(side);
        }
        if self.finished == [true; 2] || (self.tls13 && side == Side::Client) {
            self.complete(side, at, out);
        }
    }

    fn plain(&self, hdr: Header) -> Option<PlainLen> {
        let v = self.facts.version?;
        plaintext_len(v, self.facts.cipher_suite?, hdr.len, self.etm)
    }

    fn alert(
        &mut self,
        side: Side,
        body: Option<&[u8]>,
        at: FrameRef,
        out: &mut impl FnMut(TlsOutput),
    ) {
        // A plaintext alert is exactly 2 bytes; an encrypted one is at least 2 + a tag.
        if let Some(Ok((_, TlsMessage::Alert(a)))) =
            body.filter(|b| b.len() == 2).map(parse_tls_message_alert)
        {
            if a.code.0 == 0 {
                self.close_notify(side, at, false, out);
            } else {
                let name = Some(a.code.to_string());
                self.push_alert(at, side, Some(a.severity.0), Some(a.code.0), name, out);
            }
            return;
        }
        let f = &mut self.facts;
        if f.handshake_complete {
            self.infer.closing_alert(side, out, &mut |n| note(f, n));
            // Decided by what follows: the sender's FIN makes it a close_notify.
            self.enc_alert[side.idx()] = Some(at);
        } else {
            self.infer.boundary(side, out, &mut |n| note(f, n));
            self.push_alert(at, side, None, None, None, out);
        }
    }

    fn push_alert(
        &mut self,
        at: FrameRef,
        side: Side,
        level: Option<u8>,
        description: Option<u8>,
        name: Option<String>,
        out: &mut impl FnMut(TlsOutput),
    ) {
        let encrypted = level.is_none();
        if self.facts.alerts.len() < facts::MAX_ALERTS {
            self.facts.alerts.push(AlertFact {
                at,
                side,
                level,
                description,
                name,
                encrypted,
            });
        }
        let kind = TlsEventKind::Alert {
            level,
            description,
            encrypted,
        };
        event(out, at, side, kind);
    }

    fn close_notify(
        &mut self,
        side: Side,
        at: FrameRef,
        guessed: bool,
        out: &mut impl FnMut(TlsOutput),
    ) {
        *self.facts.close_notify.get_mut(side) = Some(CloseNotifyFact { at, guessed });
        event(out, at, side, TlsEventKind::CloseNotify { guessed });
    }

    /// An encrypted TLS 1.2 alert not followed by its sender's close: reported as such.
    pub(super) fn flush_enc_alert(&mut self, side: Side, out: &mut impl FnMut(TlsOutput)) {
        if let Some(at) = self.enc_alert[side.idx()].take() {
            self.push_alert(at, side, None, None, None, out);
        }
    }

    fn complete(&mut self, side: Side, at: FrameRef, out: &mut impl FnMut(TlsOutput)) {
        if !self.facts.handshake_complete {
            self.facts.handshake_complete = true;
            self.facts.handshake_done = Some(at);
            event(out, at, side, TlsEventKind::HandshakeDone);
        }
    }

    fn message(
        &mut self,
        side: Side,
        m: Message,
        at: FrameRef,
        keys: &KeyLog,
        out: &mut impl FnMut(TlsOutput),
    ) {
        let f = &mut self.facts;
        match m {
            Message::ClientHello {
                random,
                sni,
                alpn,
                session_id,
                etm,
                ..
            } if side == Side::Client => {
                f.sni = sni;
                f.alpn_offered = alpn;
                f.client_hello = Some(at);
                self.client_random = Some(random);
                self.client_session_id = session_id;
                self.etm = etm;
                event(out, at, side, TlsEventKind::ClientHello);
            }
            Message::ServerHello { retry: true, .. } if side == Side::Server => {
                f.hello_retry = true;
                event(out, at, side, TlsEventKind::HelloRetryRequest);
            }
            Message::ServerHello {
                random,
                version,
                suite,
                session_id,
                alpn,
                psk,
                etm,
                ..
            } if side == Side::Server => {
                self.tls13 = version >= TLS13;
                self.infer.tls13 = self.tls13;
                self.etm &= etm;
                f.version = Some(version);
                f.version_name = version_name(version);
                f.cipher_suite = Some(suite);
                f.cipher_suite_name = TlsCipherSuite::from_id(suite).map(|c| c.name);
                f.alpn = alpn;
                // In 1.3 the legacy session id is always echoed (compatibility mode):
                // only pre_shared_key means resumption there.
                f.resumed = if self.tls13 {
                    psk
                } else {
                    !session_id.is_empty() && session_id == self.client_session_id
                };
                f.server_hello = Some(at);
                f.handshake_rtt = f.client_hello.map(|c| at.ts - c.ts);
                let resumed = f.resumed;
                self.hello = Some(Hello {
                    server_random: random,
                    version,
                    suite,
                    etm: self.etm,
                });
                self.try_decrypt(keys, false);
                event(
                    out,
                    at,
                    side,
                    TlsEventKind::ServerHello {
                        version,
                        suite,
                        resumed,
                    },
                );
            }
            Message::Certificate(cert) => {
                *match side {
                    Side::Client => &mut f.client_cert,
                    Side::Server => &mut f.server_cert,
                } = cert;
                event(out, at, side, TlsEventKind::Certificate);
            }
            Message::NewSessionTicket => {
                f.tickets += 1;
                event(out, at, side, TlsEventKind::SessionTicket);
            }
            Message::Finished => self.finished_read(side, at, out),
            Message::KeyUpdate => {
                if let Some(d) = &mut self.decrypting {
                    d.key_update(side);
                }
            }
            _ => {}
        }
    }

    fn application(
        &mut self,
        side: Side,
        hdr: Header,
        at: FrameRef,
        out: &mut impl FnMut(TlsOutput),
    ) {
        let plain = self.plain(hdr);
        if self.tls13 && !self.facts.handshake_complete {
            let suite = self.facts.cipher_suite.unwrap_or(0);
            match side {
                // The server's encrypted flight (EncryptedExtensions .. Finished).
                Side::Server => {}
                Side::Client if plain == Some(PlainLen::Exact(finished13_len(suite))) => {
                    self.complete(side, at, out)
                }
                // A 19-byte record where the client's Finished belongs: an encrypted alert.
                // The client refused the server (bad, unknown or expired certificate, …);
                // which alert is not visible.
                Side::Client if plain == Some(PlainLen::Exact(2)) => {
                    self.push_alert(at, side, None, None, None, out)
                }
                Side::Client => {
                    self.client_flight += 1;
                    if self.client_flight >= MAX_CLIENT_FLIGHT {
                        self.complete(side, at, out);
                    }
                }
            }
            return;
        }
        if let Some(p) = plain {
            let f = &mut self.facts;
            self.infer.record(side, p, at, out, &mut |n| note(f, n));
        }
    }

    /// `side` closed at `at`, with a FIN (`fin`) or a RST.
    pub(super) fn close(
        &mut self,
        side: Side,
        at: FrameRef,
        fin: bool,
        out: &mut impl FnMut(TlsOutput),
    ) {
        if !self.facts.handshake_complete && self.any_record {
            self.facts.closed_in_handshake = true;
        }
        if let Some(a) = self.enc_alert[side.idx()].take() {
            self.close_notify(side, a, true, out);
        }
        let f = &mut self.facts;
        self.infer.close(side, at, fin, out, &mut |n| note(f, n));
    }
}

impl Conn {
    /// The end: the inference decides everything it holds.
    pub(super) fn finish_inference(&mut self, out: &mut impl FnMut(TlsOutput)) {
        let f = &mut self.facts;
        self.infer.finish(out, &mut |n| note(f, n));
    }
}

/// Records in the facts what the inference decided about TLS itself.
fn note(f: &mut TlsFacts, n: Note) {
    match n {
        Note::CloseNotify(at, side) => {
            *f.close_notify.get_mut(side) = Some(CloseNotifyFact { at, guessed: true })
        }
        Note::Alert(at, side) if f.alerts.len() < facts::MAX_ALERTS => f.alerts.push(AlertFact {
            at,
            side,
            level: None,
            description: None,
            name: None,
            encrypted: true,
        }),
        Note::Alert(..) => {}
        Note::Ticket => f.tickets += 1,
    }
}

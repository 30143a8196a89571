//! The HTTP/1.1 opening handshake: each side's head collected (bounded) and read with
//! `httparse`.

use super::deflate::DeflateParams;
use super::facts::{MAX_OFFERED, NotMqtt, WsFacts};

/// Cap on an HTTP head (request line or status line plus headers).
pub const MAX_HEAD: usize = 16 * 1024;

/// Headers read per head; more is not HTTP as a WebSocket client or broker writes it.
const MAX_HEADERS: usize = 64;

/// Heads shorter than this are re-checked with `httparse` on every arrival, so garbage is
/// told early; longer ones only once their end is seen.
const EARLY_CHECK: usize = 1024;

/// One side's HTTP head being collected.
#[derive(Debug, Default)]
pub(super) struct HeadBuf {
    buf: Vec<u8>,
}

/// What collecting a head gives.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Head {
    /// Incomplete (and so far plausible).
    More,
    /// The head ends `used` bytes into the chunk just given.
    Done {
        /// Bytes of the chunk that belong to the head.
        used: usize,
    },
    /// Not HTTP, or longer than [`MAX_HEAD`].
    Bad,
}

impl HeadBuf {
    /// Bytes held.
    pub fn buffered(&self) -> usize {
        self.buf.len()
    }

    /// The complete head, after [`Head::Done`].
    pub fn bytes(&self) -> &[u8] {
        &self.buf
    }

    /// Forgets the head (after reading it).
    pub fn clear(&mut self) {
        self.buf = Vec::new();
    }

    /// Adds a chunk; `probe` tells whether a prefix of a head is still plausible HTTP.
    pub fn push(&mut self, bytes: &[u8], probe: fn(&[u8]) -> bool) -> Head {
        let had = self.buf.len();
        let take = bytes.len().min(MAX_HEAD - had);
        self.buf.extend_from_slice(&bytes[..take]);
        if let Some(end) = head_end(&self.buf, had.saturating_sub(3)) {
            self.buf.truncate(end);
            return Head::Done {
                used: end.saturating_sub(had),
            };
        }
        if self.buf.len() >= MAX_HEAD || (self.buf.len() <= EARLY_CHECK && !probe(&self.buf)) {
            return Head::Bad;
        }
        Head::More
    }
}

/// The end of a head (past its blank line, `\r\n\r\n` or bare `\n\n`), searching from `from`.
fn head_end(b: &[u8], from: usize) -> Option<usize> {
    (from..b.len()).find_map(|i| match &b[i..] {
        [b'\r', b'\n', b'\r', b'\n', ..] => Some(i + 4),
        [b'\n', b'\n', ..] => Some(i + 2),
        [b'\n', b'\r', b'\n', ..] => Some(i + 3),
        _ => None,
    })
}

/// Whether `b` can be the start of an HTTP request.
pub(super) fn request_prefix_ok(b: &[u8]) -> bool {
    let mut h = [httparse::EMPTY_HEADER; MAX_HEADERS];
    httparse::Request::new(&mut h).parse(b).is_ok()
}

/// Whether `b` can be the start of an HTTP response.
pub(super) fn response_prefix_ok(b: &[u8]) -> bool {
    let mut h = [httparse::EMPTY_HEADER; MAX_HEADERS];
    httparse::Response::new(&mut h).parse(b).is_ok()
}

/// A header's values joined with ", " (repeated headers are one comma list).
fn header(headers: &[httparse::Header<'_>], name: &str) -> Option<String> {
    let vals: Vec<String> = headers
        .iter()
        .filter(|h| h.name.eq_ignore_ascii_case(name))
        .map(|h| String::from_utf8_lossy(h.value).trim().to_string())
        .collect();
    (!vals.is_empty()).then(|| vals.join(", "))
}

/// Whether a comma list holds `token` (case-insensitive).
fn has_token(list: Option<&str>, token: &str) -> bool {
    list.is_some_and(|l| l.split(',').any(|t| t.trim().eq_ignore_ascii_case(token)))
}

/// Whether a subprotocol is MQTT's (`mqtt`, or the older `mqttv3.1`).
pub(super) fn is_mqtt_protocol(p: &str) -> bool {
    p.eq_ignore_ascii_case("mqtt") || p.eq_ignore_ascii_case("mqttv3.1")
}

/// Whether a name mentions MQTT (a subprotocol like `mqttv5`, a path like `/mqtt`).
fn names_mqtt(s: &str) -> bool {
    s.to_ascii_lowercase().contains("mqtt")
}

/// Whether a complete request head is a WebSocket upgrade: `GET`, HTTP/1.1 or later, and
/// `Upgrade: websocket`.
pub(super) fn is_upgrade_request(req: &httparse::Request<'_, '_>) -> bool {
    req.method == Some("GET")
        && req.version == Some(1)
        && has_token(header(req.headers, "upgrade").as_deref(), "websocket")
}

/// Reads the client's complete head into `facts`; `Err` when the flow is not MQTT over
/// WebSocket.
pub(super) fn read_request(head: &[u8], facts: &mut WsFacts) -> Result<(), NotMqtt> {
    let mut h = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut req = httparse::Request::new(&mut h);
    if !matches!(req.parse(head), Ok(httparse::Status::Complete(_))) {
        return Err(NotMqtt::NotHttp);
    }
    facts.path = req.path.map(str::to_string);
    facts.host = header(req.headers, "host");
    facts.extensions_offered = header(req.headers, "sec-websocket-extensions");
    if let Some(list) = header(req.headers, "sec-websocket-protocol") {
        facts.subprotocol_offered = list
            .split(',')
            .map(|p| p.trim().to_string())
            .filter(|p| !p.is_empty())
            .take(MAX_OFFERED)
            .collect();
    }
    if !is_upgrade_request(&req) {
        return Err(NotMqtt::NoUpgrade);
    }
    // A client that offers only other subprotocols is still MQTT's when it asks for an MQTT
    // path or an MQTT-looking name (`mqttv5`): a broker may refuse it, which is a verdict.
    let offered = &facts.subprotocol_offered;
    let mqtt_path = facts.path.as_deref().is_some_and(names_mqtt);
    if !offered.is_empty() && !offered.iter().any(|p| names_mqtt(p)) && !mqtt_path {
        return Err(NotMqtt::OtherSubprotocol);
    }
    Ok(())
}

/// What the server's head says.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Response {
    /// An interim response (100 Continue…): the real one follows.
    Interim,
    /// The final response, with its status.
    Final(u16),
}

/// Reads the server's complete head into `facts`; `Err` when the flow is not MQTT over
/// WebSocket.
pub(super) fn read_response(head: &[u8], facts: &mut WsFacts) -> Result<Response, NotMqtt> {
    let mut h = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut resp = httparse::Response::new(&mut h);
    if !matches!(resp.parse(head), Ok(httparse::Status::Complete(_))) {
        return Err(NotMqtt::NotHttp);
    }
    let status = resp.code.unwrap_or(0);
    if (100..200).contains(&status) && status != 101 {
        return Ok(Response::Interim);
    }
    facts.status = Some(status);
    facts.status_text = resp.reason.filter(|r| !r.is_empty()).map(str::to_string);
    if status != 101 {
        return Ok(Response::Final(status));
    }
    if !has_token(header(resp.headers, "upgrade").as_deref(), "websocket") {
        return Err(NotMqtt::NoUpgrade);
    }
    facts.subprotocol = header(resp.headers, "sec-websocket-protocol");
    facts.extensions = header(resp.headers, "sec-websocket-extensions");
    facts.deflate = facts
        .extensions
        .as_deref()
        .and_then(DeflateParams::from_extensions);
    match &facts.subprotocol {
        Some(p) if !is_mqtt_protocol(p) => Err(NotMqtt::OtherSubprotocol),
        _ => Ok(Response::Final(101)),
    }
}

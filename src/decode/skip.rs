//! Why a frame produced no segment, and the counters of those reasons.

use serde::Serialize;

/// Why a frame produced no segment; counted by reason, never silently dropped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Skip {
    /// The capture's link type is not one [`super::decode`] understands.
    UnsupportedLinkType,
    /// The link layer carries something other than IP (ARP, LLDP, STP, netlink, MACsec...).
    NotIp,
    /// IP carrying something other than TCP (UDP, ICMP, ESP...), fragmented or not.
    NotTcp,
    /// A fragment (first or later) of a fragmented IPv4/IPv6 datagram carrying TCP.
    ///
    /// Fragments are not reassembled: TCP over MQTT connections practically never fragments
    /// (path MTU discovery sets DF), so a non-zero count is itself worth reporting.
    IpFragment,
    /// The capture ends before the TCP header does (snaplen, or a truncated file); only
    /// given when the caller said the frame was cut.
    Truncated,
    /// A header fails validation: bad IP version or IHL, a TCP data offset below 5, a length
    /// field that contradicts the headers or the uncut frame, or a frame too short for its
    /// headers although nothing was cut.
    Malformed,
}

impl Skip {
    /// The reason for a frame that ends before its headers do: [`Skip::Truncated`] if the
    /// capture cut it, [`Skip::Malformed`] if it really was that short on the wire.
    pub(super) fn short_frame(caplen_cut: bool) -> Skip {
        if caplen_cut {
            Skip::Truncated
        } else {
            Skip::Malformed
        }
    }
}

/// Counters of skipped frames by reason.
///
/// Serializes as a JSON object with **every** reason present, zeros included
/// (`{"unsupported_link_type":0,"not_ip":3,...}`), so consumers see a fixed schema.
#[derive(Debug, Default, Clone, PartialEq, Eq, Serialize)]
pub struct SkipCounts {
    /// Frames of a link type we don't decode.
    pub unsupported_link_type: u64,
    /// Frames that are not IP.
    pub not_ip: u64,
    /// IP datagrams that are not TCP.
    pub not_tcp: u64,
    /// Fragments of fragmented TCP datagrams.
    pub ip_fragment: u64,
    /// Frames cut before the TCP header ended.
    pub truncated: u64,
    /// Frames with a header that fails validation.
    pub malformed: u64,
}

impl SkipCounts {
    /// Counts one skipped frame.
    pub fn add(&mut self, skip: Skip) {
        *self.slot(skip) += 1;
    }

    /// The count for one reason.
    pub fn get(&self, skip: Skip) -> u64 {
        match skip {
            Skip::UnsupportedLinkType => self.unsupported_link_type,
            Skip::NotIp => self.not_ip,
            Skip::NotTcp => self.not_tcp,
            Skip::IpFragment => self.ip_fragment,
            Skip::Truncated => self.truncated,
            Skip::Malformed => self.malformed,
        }
    }

    /// Total number of skipped frames, all reasons together.
    pub fn total(&self) -> u64 {
        self.unsupported_link_type
            + self.not_ip
            + self.not_tcp
            + self.ip_fragment
            + self.truncated
            + self.malformed
    }

    fn slot(&mut self, skip: Skip) -> &mut u64 {
        match skip {
            Skip::UnsupportedLinkType => &mut self.unsupported_link_type,
            Skip::NotIp => &mut self.not_ip,
            Skip::NotTcp => &mut self.not_tcp,
            Skip::IpFragment => &mut self.ip_fragment,
            Skip::Truncated => &mut self.truncated,
            Skip::Malformed => &mut self.malformed,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ALL: [Skip; 6] = [
        Skip::UnsupportedLinkType,
        Skip::NotIp,
        Skip::NotTcp,
        Skip::IpFragment,
        Skip::Truncated,
        Skip::Malformed,
    ];

    #[test]
    fn each_reason_has_its_own_counter() {
        for (i, skip) in ALL.into_iter().enumerate() {
            let mut counts = SkipCounts::default();
            for _ in 0..=i {
                counts.add(skip);
            }
            assert_eq!(counts.get(skip), i as u64 + 1, "{skip:?}");
            assert_eq!(counts.total(), i as u64 + 1, "{skip:?}");
            for other in ALL.into_iter().filter(|&o| o != skip) {
                assert_eq!(counts.get(other), 0, "{skip:?} leaked into {other:?}");
            }
        }
    }

    #[test]
    fn serializes_every_reason_with_the_enum_names() {
        let mut counts = SkipCounts::default();
        counts.add(Skip::NotIp);
        counts.add(Skip::NotIp);
        counts.add(Skip::Malformed);
        let json = serde_json::to_value(&counts).unwrap();
        let object = json.as_object().unwrap();
        assert_eq!(object.len(), ALL.len());
        for skip in ALL {
            let name = serde_json::to_value(skip).unwrap();
            let key = name.as_str().unwrap();
            assert_eq!(object[key], counts.get(skip), "{key}");
        }
        assert_eq!(object["not_ip"], 2);
        assert_eq!(object["unsupported_link_type"], 0);
    }
}

#!/usr/bin/env bash
# pcapng copies of the TLS captures with their key logs inside, as Decryption Secrets
# Blocks (what Wireshark users keep): tls-dsb/NAME.pcapng from tls/NAME.pcap + tls/NAME.keys.
# dropscope reads these secrets with no flag; tests/tls_keys.rs checks that each copy gives
# exactly the analysis of the pcap with --keylog.  Needs editcap (wireshark-common).
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
mkdir -p "$HERE/tls-dsb"
for pcap in "$HERE"/tls/*.pcap; do
  name=$(basename "$pcap" .pcap)
  editcap --inject-secrets "tls,$HERE/tls/$name.keys" "$pcap" "$HERE/tls-dsb/$name.pcapng"
done
# A capture that starts after the first connection's handshake (frame 13 of tls13-clean is
# that connection's first application record): its session cannot be identified, so it must
# be said undecryptable while the later connections decrypt.
editcap -r "$HERE/tls/tls13-clean.pcap" "$HERE/tls-dsb/tls13-clean-from-frame-13.pcap" 13-100000

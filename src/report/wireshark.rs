//! Wireshark display filters for a verdict's evidence, so a reader can paste them into
//! Wireshark's filter bar and land on the frames that decided it.

use std::collections::BTreeSet;

/// The display filter that selects `frames`: `frame.number == 32` for one frame,
/// `frame.number in {32 44 61}` for several (Wireshark's set membership, space-separated as
/// every version since 2.0 reads it), in ascending order without repeats; `None` for none.
pub fn frame_filter(frames: &[u64]) -> Option<String> {
    let set: BTreeSet<u64> = frames.iter().copied().collect();
    match set.len() {
        0 => None,
        1 => set.first().map(|f| format!("frame.number == {f}")),
        _ => {
            let list: Vec<String> = set.iter().map(u64::to_string).collect();
            Some(format!("frame.number in {{{}}}", list.join(" ")))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::frame_filter;

    #[test]
    fn one_frame_is_an_equality() {
        assert_eq!(frame_filter(&[32]).as_deref(), Some("frame.number == 32"));
    }

    #[test]
    fn several_frames_are_a_sorted_set_without_repeats() {
        assert_eq!(
            frame_filter(&[61, 32, 44, 32]).as_deref(),
            Some("frame.number in {32 44 61}")
        );
    }

    #[test]
    fn no_frames_no_filter() {
        assert_eq!(frame_filter(&[]), None);
    }
}

//! What a view prints: the analysis as the user asked to see it (causes in a broker's
//! words, identities pseudonymized, timelines only where asked). The analysis itself is
//! never rewritten; a view that needs none of these prints it as it is.

use super::anonymize;
use crate::engine::Analysis;
use crate::verdict::{Vocabulary, describe};
use std::borrow::Cow;

/// How a view presents an analysis.
#[derive(Debug, Clone, Default)]
pub struct Presentation {
    /// Whose words name the causes (as `broker_reason`).
    pub vocabulary: Vocabulary,
    /// Replace client ids, user names and addresses by pseudonyms keyed by this.
    pub anonymize_key: Option<Vec<u8>>,
    /// Drop each connection's timeline (JSON views print it only when asked).
    pub drop_timelines: bool,
}

impl Presentation {
    /// Whether the analysis prints as it is.
    /// Whether `a` is shown as it is (no copy needed): timelines to drop but none kept is
    /// plain too, so a big analysis is not copied whole to clear empty vectors.
    fn is_plain(&self, a: &Analysis) -> bool {
        let no_timelines = || {
            a.connections
                .iter()
                .all(|j| j.connection.timeline.is_empty())
        };
        self.vocabulary == Vocabulary::Mqtt
            && self.anonymize_key.is_none()
            && (!self.drop_timelines || no_timelines())
    }
}

/// The analysis as `p` presents it: borrowed when nothing changes, else a copy.
pub fn present<'a>(a: &'a Analysis, p: &Presentation) -> Cow<'a, Analysis> {
    if p.is_plain(a) {
        return Cow::Borrowed(a);
    }
    let mut shown = a.clone();
    for j in &mut shown.connections {
        if p.drop_timelines {
            j.connection.timeline.clear();
        }
        j.verdict.broker_reason = match p.vocabulary {
            Vocabulary::Mqtt => None,
            vocab => describe(&j.verdict, vocab),
        };
    }
    if let Some(key) = &p.anonymize_key {
        anonymize::anonymize(&mut shown, key);
    }
    Cow::Owned(shown)
}

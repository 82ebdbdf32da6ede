//! The audit log's chain, checked entry by entry as pages of it arrive oldest first:
//! which entry was edited, where the order breaks, what is missing, and whether the
//! log still reaches the head a checkpoint signed. Pure: the pages are passed in.

use std::collections::BTreeMap;
use std::fmt;

use driftless_store::audit_chain::{entry_hash, GENESIS_HASH};
use driftless_store::AuditEntry;

/// Suspect entries kept for a closer look; past this many only the count is kept.
const MAX_SUSPECTS: usize = 20;

/// One thing wrong with the log, naming the entry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Fault {
    /// The entry's hash is not the hash of its content after its predecessor.
    Edited {
        /// The entry.
        seq: u64,
    },
    /// The entry is intact but was chained after another entry than the one before it.
    Reordered {
        /// The entry.
        seq: u64,
        /// Where the entry it was chained after is stored now (0: the chain's start).
        follows: u64,
    },
    /// Entries in the middle of the log are gone.
    Missing {
        /// The first missing entry.
        from: u64,
        /// The last missing entry.
        to: u64,
    },
    /// The log ends before the tree size a checkpoint signed.
    Truncated {
        /// How many entries the log holds.
        held: u64,
        /// The checkpoint's tree size.
        tree_size: u64,
        /// Which checkpoint.
        source: String,
    },
    /// The entry a checkpoint signed as the head has another hash now.
    HeadDiffers {
        /// The checkpoint's tree size.
        tree_size: u64,
        /// Which checkpoint.
        source: String,
    },
    /// More suspect entries than were looked at closely.
    More {
        /// How many.
        count: u64,
    },
}

impl fmt::Display for Fault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Fault::Edited { seq } => write!(
                f,
                "entry {seq}'s hash does not match its content: the entry was edited"
            ),
            Fault::Reordered { seq, follows } => write!(
                f,
                "chain break at entry {seq}: it was chained after the entry now stored as {follows}, not after entry {}: entries were reordered",
                seq.saturating_sub(1)
            ),
            Fault::Missing { from, to } if from == to => {
                write!(f, "entry {from} is missing: the chain jumps over it")
            }
            Fault::Missing { from, to } => {
                write!(f, "entries {from} to {to} are missing: the chain jumps over them")
            }
            Fault::Truncated { held, tree_size, source } => write!(
                f,
                "the log holds {held} entries, fewer than the {tree_size} of {source}: entries {} to {tree_size} were deleted",
                held + 1
            ),
            Fault::HeadDiffers { tree_size, source } => write!(
                f,
                "entry {tree_size}'s hash is not the head {source} signed: the log was rewritten up to it"
            ),
            Fault::More { count } => write!(f, "{count} more entries do not chain"),
        }
    }
}

/// The walk over the log, oldest entry first.
pub struct ChainCheck {
    prev: String,
    next_seq: u64,
    /// Entries whose hash did not chain, to classify once their neighbours are known.
    suspects: Vec<AuditEntry>,
    more_suspects: u64,
    faults: Vec<Fault>,
    /// The stored hash of each entry a checkpoint names, once walked past.
    heads: BTreeMap<u64, Option<String>>,
}

impl ChainCheck {
    /// A walk that records the hashes of the entries numbered `checkpoint_sizes`.
    pub fn new(checkpoint_sizes: &[u64]) -> Self {
        ChainCheck {
            prev: GENESIS_HASH.to_string(),
            next_seq: 1,
            suspects: Vec::new(),
            more_suspects: 0,
            faults: Vec::new(),
            heads: checkpoint_sizes.iter().map(|s| (*s, None)).collect(),
        }
    }

    /// Checks the next entry (entries come in ascending `seq`).
    pub fn push(&mut self, e: &AuditEntry) {
        let after_gap = e.seq != self.next_seq;
        if after_gap && e.seq > self.next_seq {
            self.faults.push(Fault::Missing {
                from: self.next_seq,
                to: e.seq - 1,
            });
        }
        // After a gap the entry chains onto a missing one: the gap is the fault.
        if !after_gap && entry_hash(&self.prev, &e.event) != e.hash {
            if self.suspects.len() < MAX_SUSPECTS {
                self.suspects.push(e.clone());
            } else {
                self.more_suspects += 1;
            }
        }
        if let Some(slot) = self.heads.get_mut(&e.seq) {
            *slot = Some(e.hash.clone());
        }
        self.prev = e.hash.clone();
        self.next_seq = e.seq + 1;
    }

    /// How many entries the log held (the last entry's number).
    pub fn held(&self) -> u64 {
        self.next_seq - 1
    }

    /// The entries that did not chain, for [`ChainCheck::classify`].
    pub fn suspects(&self) -> &[AuditEntry] {
        &self.suspects
    }

    /// Checks a checkpoint (`source` names it in the fault) of `tree_size` and `head`
    /// against the walked log.
    pub fn check_checkpoint(&mut self, tree_size: u64, head: &str, source: &str) {
        let held = self.held();
        if held < tree_size {
            self.faults.push(Fault::Truncated {
                held,
                tree_size,
                source: source.to_string(),
            });
        } else if self.heads.get(&tree_size).cloned().flatten().as_deref() != Some(head) {
            self.faults.push(Fault::HeadDiffers {
                tree_size,
                source: source.to_string(),
            });
        }
    }

    /// Every fault, the suspects classified with `neighbours` (the stored entries
    /// around each suspect): a suspect whose hash is its content chained after some
    /// other stored entry was moved; any other was edited.
    pub fn faults(mut self, neighbours: &[AuditEntry]) -> Vec<Fault> {
        let mut classified: Vec<Fault> = self
            .suspects
            .iter()
            .map(|s| classify(s, neighbours))
            .collect();
        if self.more_suspects > 0 {
            classified.push(Fault::More {
                count: self.more_suspects,
            });
        }
        classified.append(&mut self.faults);
        classified
    }
}

/// Why `suspect` does not chain onto the entry before it.
fn classify(suspect: &AuditEntry, neighbours: &[AuditEntry]) -> Fault {
    let genesis = std::iter::once((0, GENESIS_HASH));
    let stored = neighbours.iter().map(|n| (n.seq, n.hash.as_str()));
    for (seq, hash) in genesis.chain(stored) {
        if seq != suspect.seq && entry_hash(hash, &suspect.event) == suspect.hash {
            return Fault::Reordered {
                seq: suspect.seq,
                follows: seq,
            };
        }
    }
    Fault::Edited { seq: suspect.seq }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use driftless_store::AuditEvent;

    /// A well-formed log of `n` entries.
    fn log(n: u64) -> Vec<AuditEntry> {
        let mut prev = GENESIS_HASH.to_string();
        (1..=n)
            .map(|seq| {
                let event = AuditEvent {
                    at: seq as i64,
                    actor: "operator".into(),
                    action: "app.create".into(),
                    subject: format!("app-{seq}"),
                    detail: "{}".into(),
                    request_id: format!("req-{seq}"),
                };
                prev = entry_hash(&prev, &event);
                AuditEntry {
                    seq,
                    event,
                    hash: prev.clone(),
                }
            })
            .collect()
    }

    fn faults(entries: &[AuditEntry], checkpoint: Option<(u64, &str)>) -> Vec<Fault> {
        let sizes: Vec<u64> = checkpoint.iter().map(|c| c.0).collect();
        let mut check = ChainCheck::new(&sizes);
        for e in entries {
            check.push(e);
        }
        if let Some((size, head)) = checkpoint {
            check.check_checkpoint(size, head, "the checkpoint");
        }
        check.faults(entries)
    }

    #[test]
    fn an_intact_log_has_no_fault() {
        let l = log(30);
        assert_eq!(faults(&l, Some((30, &l[29].hash.clone()))), vec![]);
    }

    #[test]
    fn an_edited_entry_is_named() {
        let mut l = log(30);
        l[6].event.subject = "someone-else".into();
        assert_eq!(faults(&l, None), vec![Fault::Edited { seq: 7 }]);
    }

    #[test]
    fn two_swapped_entries_are_a_chain_break_at_the_first() {
        let mut l = log(30);
        let (a, b) = (l[9].clone(), l[10].clone());
        l[9] = AuditEntry { seq: 10, ..b };
        l[10] = AuditEntry { seq: 11, ..a };
        let found = faults(&l, None);
        assert_eq!(
            found[0],
            Fault::Reordered {
                seq: 10,
                follows: 11
            }
        );
        assert!(found.iter().all(|f| matches!(f, Fault::Reordered { .. })));
    }

    #[test]
    fn a_deleted_middle_entry_is_named() {
        let mut l = log(30);
        l.remove(14);
        assert_eq!(faults(&l, None), vec![Fault::Missing { from: 15, to: 15 }]);
    }

    #[test]
    fn a_checkpoint_catches_the_deleted_tail() {
        let l = log(30);
        let head = l[29].hash.clone();
        let found = faults(&l[..20], Some((30, &head)));
        assert_eq!(
            found,
            vec![Fault::Truncated {
                held: 20,
                tree_size: 30,
                source: "the checkpoint".into()
            }]
        );
        assert!(found[0]
            .to_string()
            .contains("entries 21 to 30 were deleted"));
    }

    #[test]
    fn a_log_rewritten_consistently_differs_from_the_checkpoint_head() {
        let l = log(30);
        let head = l[29].hash.clone();
        let mut forged = log(30);
        forged[0].event.detail = "{\"rewritten\":true}".into();
        let mut prev = GENESIS_HASH.to_string();
        for e in &mut forged {
            e.hash = entry_hash(&prev, &e.event);
            prev = e.hash.clone();
        }
        assert_eq!(
            faults(&forged, Some((30, &head))),
            vec![Fault::HeadDiffers {
                tree_size: 30,
                source: "the checkpoint".into()
            }]
        );
    }
}

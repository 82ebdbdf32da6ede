//! The audit actor as the backends store it. Every request an install signs is about
//! that install, so its entries' actor (`install:<id>`) repeats their subject (`<id>`):
//! such an actor is stored as [`SELF_INSTALL`] and rebuilt from the subject on read,
//! which saves each install's id once in the log (about 26 bytes of the kilobyte an
//! install may cost). Hashes are computed over the rebuilt actor, so the chain and
//! `audit verify` do not change, and rows stored in full read as they are.

use crate::StoreError;

/// How an install acting on itself is stored: `install:` with no id, which is refused
/// as an actor (an install id is never empty), so every stored actor reads back as it
/// was written.
pub const SELF_INSTALL: &str = "install:";

/// The actor column for an entry by `actor` about `subject`; refuses the actor
/// [`SELF_INSTALL`] itself, which would read back as another.
pub fn stored_actor<'a>(actor: &'a str, subject: &str) -> Result<&'a str, StoreError> {
    match actor.strip_prefix(SELF_INSTALL) {
        Some("") => Err(StoreError::Backend(format!(
            "audit actor `{actor}` names no install"
        ))),
        Some(id) if id == subject => Ok(SELF_INSTALL),
        _ => Ok(actor),
    }
}

/// The actor of an entry whose actor column is `stored` and subject is `subject`.
pub fn actor_from_stored(stored: String, subject: &str) -> String {
    if stored == SELF_INSTALL && !subject.is_empty() {
        format!("{SELF_INSTALL}{subject}")
    } else {
        stored
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_actor_reads_back_as_it_was_written() {
        for (actor, subject) in [
            ("install:ins_abc", "ins_abc"),
            ("install:ins_abc", "ins_other"),
            ("user:owner", "acme"),
            ("token:tok_1", "tok_1"),
            ("control-plane", ""),
            ("operator", "install:ins_abc"),
        ] {
            let stored = stored_actor(actor, subject).unwrap();
            assert_eq!(
                actor_from_stored(stored.to_string(), subject),
                actor,
                "{actor} about {subject}"
            );
        }
    }

    #[test]
    fn an_install_acting_on_itself_is_stored_without_its_id() {
        assert_eq!(
            stored_actor("install:ins_abc", "ins_abc").unwrap(),
            SELF_INSTALL
        );
        assert_eq!(
            stored_actor("install:ins_abc", "ins_xyz").unwrap(),
            "install:ins_abc"
        );
    }

    #[test]
    fn an_install_actor_without_an_id_is_refused() {
        assert!(stored_actor("install:", "ins_abc").is_err());
        assert!(stored_actor("install:", "").is_err());
    }
}

//! Hints: what a person can do about an error, printed as its own `hint: …` line under
//! the `error: …` line instead of being joined to the message.
//!
//! A binary attaches one with [`HintExt::hint`]; the libraries' error types carry their
//! own (`hint()` on each), and the control plane sends one in its error body.

use std::fmt;

/// What to do about an error, attached as context; it adds no text to the error line.
#[derive(Debug, Clone)]
pub struct Hint(pub String);

impl fmt::Display for Hint {
    fn fmt(&self, _: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Empty on purpose: the hint is printed on its own line, not in the chain.
        Ok(())
    }
}

/// Attaches a [`Hint`] to a failure.
pub trait HintExt<T> {
    /// The failure, with `hint` printed under it.
    fn hint(self, hint: impl Into<String>) -> anyhow::Result<T>;
}

impl<T, E> HintExt<T> for Result<T, E>
where
    E: Into<anyhow::Error>,
{
    fn hint(self, hint: impl Into<String>) -> anyhow::Result<T> {
        self.map_err(|e| e.into().context(Hint(hint.into())))
    }
}

/// The hint for an error: a [`Hint`] given as context wins, else the first cause in
/// the chain whose type knows one.
pub fn hint_of(err: &anyhow::Error) -> Option<String> {
    if let Some(Hint(text)) = err.downcast_ref::<Hint>() {
        return Some(text.clone());
    }
    err.chain().find_map(|cause| {
        if let Some(e) = cause.downcast_ref::<driftless_client::ClientError>() {
            return e.hint();
        }
        if let Some(e) = cause.downcast_ref::<driftless_trust::TrustError>() {
            return e.hint();
        }
        if let Some(e) = cause.downcast_ref::<driftless_runtime::RuntimeError>() {
            return e.hint();
        }
        if let Some(e) = cause.downcast_ref::<driftless_descriptor::DescriptorError>() {
            return e.hint();
        }
        if let Some(e) = cause.downcast_ref::<driftless_oci::OciError>() {
            return e.hint();
        }
        None
    })
}

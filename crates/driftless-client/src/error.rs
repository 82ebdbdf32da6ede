//! Why a call to the control plane failed.

/// A failed call to the control plane.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// Nothing answered.
    #[error("control plane at {url} is unreachable ({reason})")]
    Unreachable {
        /// The URL called.
        url: String,
        /// The transport error.
        reason: String,
    },
    /// The control plane answered with an error.
    #[error("{message} (HTTP {status}, {code})")]
    Api {
        /// HTTP status.
        status: u16,
        /// Stable code from the body.
        code: String,
        /// The server's one-line message.
        message: String,
        /// What to do about it, when the server says.
        hint: Option<String>,
    },
    /// The answer is not what the API promises.
    #[error("malformed answer from {url}: {reason}")]
    Malformed {
        /// The URL called.
        url: String,
        /// What was wrong.
        reason: String,
    },
    /// The answer is larger than the cap.
    #[error("answer from {url} is larger than {cap} bytes; refusing it")]
    TooLarge {
        /// The URL called.
        url: String,
        /// The cap.
        cap: usize,
    },
}

impl ClientError {
    /// What a person can do about it, printed under the error line.
    pub fn hint(&self) -> Option<String> {
        match self {
            ClientError::Unreachable { .. } => {
                Some("check --server and that the control plane is running".into())
            }
            ClientError::Api { hint, .. } => hint.clone(),
            _ => None,
        }
    }

    /// The API error code, when the server answered with one.
    pub fn code(&self) -> Option<&str> {
        match self {
            ClientError::Api { code, .. } => Some(code),
            _ => None,
        }
    }
}

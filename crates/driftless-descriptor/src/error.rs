//! The one error type of this crate: each variant reads as one lowercase line saying what
//! was wrong and about what; [`DescriptorError::hint`] says what to do about it.

/// Everything that can be wrong with a descriptor, its schema or a customer's values.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DescriptorError {
    /// The YAML is over [`crate::MAX_DESCRIPTOR_BYTES`].
    #[error("descriptor is {size} bytes, over the {max}-byte limit")]
    TooLarge {
        /// Size of the input.
        size: u64,
        /// The limit.
        max: u64,
    },
    /// Anchors and aliases expand to more than the parser is willing to build.
    #[error("descriptor expands to more than {max_nodes} YAML nodes or {max_bytes} bytes of text once anchors and aliases are expanded")]
    TooComplex {
        /// Node limit.
        max_nodes: usize,
        /// Text limit after expansion.
        max_bytes: usize,
    },
    /// The bytes are not one well-formed YAML document.
    #[error("descriptor is not valid YAML: {0}")]
    Yaml(String),
    /// The document is not a mapping, or is missing `services`.
    #[error("descriptor is not a compose file: {0}")]
    NotCompose(String),
    /// A service name compose would refuse.
    #[error("service name `{0}` is invalid")]
    InvalidServiceName(String),
    /// A service has no `image` (e.g. only `build:`).
    #[error("service `{0}` has no image")]
    MissingImage(String),
    /// A service's `image` is present but unusable.
    #[error("service `{service}` has an invalid image: {reason}")]
    InvalidImage {
        /// The service.
        service: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The `x-driftless` block is malformed.
    #[error("x-driftless is invalid: {reason}")]
    InvalidSchema {
        /// What is wrong with it, and where.
        reason: String,
        /// How to write it, when the shape (not a value) was wrong.
        hint: Option<&'static str>,
    },
    /// A declared config variable's name is not `[A-Z_][A-Z0-9_]*`.
    #[error("config variable name `{0}` is invalid")]
    InvalidVariableName(String),
    /// The same name is declared twice.
    #[error("config variable `{0}` is declared twice under x-driftless.config")]
    DuplicateVariable(String),
    /// A declared default does not fit the declared type.
    #[error("default of config variable `{name}` is not a valid {kind}: `{value}` {reason}")]
    InvalidDefault {
        /// The variable.
        name: String,
        /// Its declared type.
        kind: &'static str,
        /// The bad default.
        value: String,
        /// Why it is not valid.
        reason: &'static str,
    },
    /// A secret declares a default, which would ship the secret to every customer.
    #[error("config variable `{0}` is secret and must not have a default")]
    SecretWithDefault(String),
    /// Malformed `$` interpolation in a value.
    #[error("invalid interpolation `{text}` at {location}")]
    BadInterpolation {
        /// Dotted path of the value.
        location: String,
        /// The offending text.
        text: String,
    },
    /// A `${NAME}` is used but not declared.
    #[error("variable `{name}` is used at {location} but not declared")]
    UndeclaredVariable {
        /// The variable.
        name: String,
        /// Where it is first used.
        location: String,
    },
    /// `pin_images` got no pin for a service.
    #[error("no pinned image given for service `{0}`")]
    MissingPin(String),
    /// `pin_images` got a pin for a service the file does not have.
    #[error("a pinned image was given for service `{0}`, which the compose file does not define")]
    UnknownPinService(String),
    /// A pin is not `repository@sha256:<64 hex>`.
    #[error("pinned image `{pin}` for service `{service}` is not `repository@sha256:<64 hex>` (lowercase repository, no registry host)")]
    InvalidPin {
        /// The service.
        service: String,
        /// The bad pin.
        pin: String,
    },
    /// The descriptor bytes differ from what the release document signed.
    #[error("descriptor does not match the signed release: {0}; refusing it (the registry copy was altered or is not this release's)")]
    DescriptorMismatch(String),
    /// The descriptor's services differ from the release's images.
    #[error("descriptor services do not match the signed release: {0}; refusing it")]
    ServicesMismatch(String),
    /// A service's image is not the one the release signed.
    #[error("service `{service}` runs `{found}` but the signed release says `{expected}`; refusing the descriptor")]
    ImageMismatch {
        /// The service.
        service: String,
        /// What the release says.
        expected: String,
        /// What the descriptor says.
        found: String,
    },
    /// The `x-driftless` schema differs from the release's `config_schema`.
    #[error(
        "descriptor config schema does not match the signed release: {0}; refusing the descriptor"
    )]
    SchemaMismatch(String),
    /// `render_for_host` found an image not pinned by digest.
    #[error("service `{service}` image `{image}` is not pinned by digest; only verified, pinned descriptors can be rendered")]
    NotPinned {
        /// The service.
        service: String,
        /// Its image.
        image: String,
    },
    /// The registry host is not a bare `host[:port]`.
    #[error("registry host `{0}` is invalid")]
    InvalidRegistryHost(String),
    /// A customer value does not fit its declared type.
    #[error("invalid value for `{name}` ({kind}): {shown}{reason}")]
    InvalidValue {
        /// The variable.
        name: String,
        /// Its declared type.
        kind: &'static str,
        /// The bad value in backticks followed by a space, or empty for secrets.
        shown: String,
        /// Why it is not valid.
        reason: &'static str,
    },
    /// A required variable has neither a value nor a default.
    #[error("config variable `{0}` is required and has no value")]
    MissingRequired(String),
    /// A value was given for a name the release does not declare.
    #[error("unknown config key `{name}`; this release declares: {declared}")]
    UnknownKey {
        /// The unknown key.
        name: String,
        /// The declared names, comma-separated.
        declared: String,
    },
    /// A value cannot be written so both compose 1.29 and v2 read it back exactly.
    #[error("value of `{name}` cannot be written to the env file: {reason}")]
    Unrepresentable {
        /// The variable.
        name: String,
        /// What makes it unrepresentable (never the value itself).
        reason: &'static str,
    },
    /// Writing YAML failed (a tag the emitter cannot write).
    #[error("cannot write the compose file: {0}")]
    Emit(String),
}

impl DescriptorError {
    /// What a person can do about it, printed under the error line.
    pub fn hint(&self) -> Option<String> {
        let text = match self {
            DescriptorError::TooLarge { .. } => "split large config out of the compose file",
            DescriptorError::TooComplex { .. } => "reduce repeated aliases",
            DescriptorError::NotCompose(_) => {
                "declare the app's services under `services:`, each a mapping of compose settings"
            }
            DescriptorError::InvalidServiceName(_) => "use letters, digits, `.`, `_` and `-` only",
            DescriptorError::MissingImage(_) => {
                "publish needs an image built on this machine: give the service an `image:`"
            }
            DescriptorError::InvalidSchema { hint, .. } => return hint.map(str::to_owned),
            DescriptorError::InvalidVariableName(_) => {
                "use upper-case letters, digits and `_`, not starting with a digit"
            }
            DescriptorError::DuplicateVariable(_) => "keep one declaration",
            DescriptorError::InvalidDefault { .. } => "fix the default under x-driftless.config",
            DescriptorError::SecretWithDefault(_) => "remove the default and mark it required",
            DescriptorError::BadInterpolation { .. } => "write `$$` for a literal dollar sign",
            DescriptorError::UndeclaredVariable { .. } => "declare it under x-driftless.config",
            DescriptorError::MissingPin(_) => "pass its `repository@sha256:...` reference",
            DescriptorError::UnknownPinService(_) => "check the service name",
            DescriptorError::InvalidRegistryHost(_) => {
                "write it as `host[:port]` with a `.` or `:` in it (or `localhost`), no scheme or path"
            }
            DescriptorError::InvalidValue { name, .. } => {
                return Some(format!(
                    "set a valid one with `driftless config set {name}=...`"
                ))
            }
            DescriptorError::MissingRequired(name) => {
                return Some(format!("set it with `driftless config set {name}=...`"))
            }
            DescriptorError::UnknownKey { .. } => "unset it or fix the name",
            DescriptorError::Unrepresentable { .. } => "choose a value without it",
            DescriptorError::Yaml(_)
            | DescriptorError::InvalidImage { .. }
            | DescriptorError::InvalidPin { .. }
            | DescriptorError::DescriptorMismatch(_)
            | DescriptorError::ServicesMismatch(_)
            | DescriptorError::ImageMismatch { .. }
            | DescriptorError::SchemaMismatch(_)
            | DescriptorError::NotPinned { .. }
            | DescriptorError::Emit(_) => return None,
        };
        Some(text.into())
    }
}

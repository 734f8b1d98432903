use std::path::PathBuf;

/// Errors that reach the user: each names the file and the field at fault. The I/O and
/// JSON causes are part of the message, not a chained source, so `{:#}` says them once.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error("{path}: {cause}")]
    Io {
        path: PathBuf,
        cause: std::io::Error,
    },
    #[error("{path}: invalid JSON: {cause}")]
    Json {
        path: PathBuf,
        cause: serde_json::Error,
    },
    #[error("{path}: field `{field}`: {message}")]
    Config {
        path: PathBuf,
        field: String,
        message: String,
    },
    #[error("model config: field `{field}`: {message}")]
    Invalid { field: String, message: String },
    #[error("{path}: not a valid safetensors file: {message}")]
    Safetensors { path: PathBuf, message: String },
    #[error("{path}: not a readable PyTorch checkpoint: {message}")]
    Torch { path: PathBuf, message: String },
    #[error("{path}: not a valid GGUF file: {message}")]
    Gguf { path: PathBuf, message: String },
    #[error("`{0}` is not a device of this build, which computes on the CPU only (`cpu`)")]
    Device(String),
    #[error("{path}: tensor `{name}`: {message}")]
    Tensor {
        path: PathBuf,
        name: String,
        message: String,
    },
}

impl EngineError {
    pub fn io(path: impl Into<PathBuf>, cause: std::io::Error) -> Self {
        EngineError::Io {
            path: path.into(),
            cause,
        }
    }
}

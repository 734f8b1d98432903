use std::path::PathBuf;

/// Errors in user data; each names the file and, where there is one, the line or field.
#[derive(Debug, thiserror::Error)]
pub enum DataError {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}:{line}: {message}")]
    Line {
        path: PathBuf,
        line: usize,
        message: String,
    },
    #[error("{path}: {message}")]
    File { path: PathBuf, message: String },
    #[error("tokenizer: {0}")]
    Tokenizer(String),
}

impl DataError {
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        DataError::Io {
            path: path.into(),
            source,
        }
    }
    pub fn file(path: impl Into<PathBuf>, message: impl Into<String>) -> Self {
        DataError::File {
            path: path.into(),
            message: message.into(),
        }
    }
}

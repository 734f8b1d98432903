use std::path::PathBuf;

/// Errors in user data; each names the file and, where there is one, the line or field.
/// The I/O cause is part of the message, not a chained source (a field named `source`
/// would be one), so `{:#}` says it once.
#[derive(Debug, thiserror::Error)]
pub enum DataError {
    #[error("{path}: {cause}")]
    Io {
        path: PathBuf,
        cause: std::io::Error,
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
    pub fn io(path: impl Into<PathBuf>, cause: std::io::Error) -> Self {
        DataError::Io {
            path: path.into(),
            cause,
        }
    }
    pub fn file(path: impl Into<PathBuf>, message: impl Into<String>) -> Self {
        DataError::File {
            path: path.into(),
            message: message.into(),
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn an_os_error_is_said_once() {
        // `{:#}` prints an error and then each source: the cause is in the message, so
        // it must not be a source too.
        let e = crate::DataError::io("f.txt", std::io::Error::from_raw_os_error(28));
        assert!(std::error::Error::source(&e).is_none());
        assert_eq!(e.to_string().matches("os error 28").count(), 1, "{e}");
    }
}

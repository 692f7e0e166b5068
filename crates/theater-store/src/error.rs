//! `StoreError`: what went wrong with a store, always naming its location (never a
//! credential: URLs are shown without user information).

use std::fmt;

/// An error talking to a store, or reading a trace from one.
#[derive(Debug)]
pub enum StoreError {
    /// A location that is not a path, `file://` or `s3://` URL, or that a store refuses
    /// to be built for (a missing bucket name, bad settings).
    BadLocation { location: String, why: String },
    /// The store answered an operation with an error, or could not be reached.
    Store {
        location: String,
        operation: String,
        why: String,
    },
    /// The trace read from the store is damaged, or is no trace.
    Trace {
        location: String,
        source: Box<theater_trace::TraceError>,
    },
    /// A local file (the spool) could not be read or written.
    Io {
        context: String,
        source: std::io::Error,
    },
}

impl StoreError {
    pub(crate) fn store(
        location: &str,
        operation: impl Into<String>,
        e: &object_store::Error,
    ) -> StoreError {
        StoreError::Store {
            location: location.to_string(),
            operation: operation.into(),
            why: describe(e),
        }
    }

    /// As a trace error, for callers that speak only those: a trace's own error stays
    /// itself, any other becomes `TraceError::Segments` with this message.
    pub fn into_trace_error(self) -> theater_trace::TraceError {
        match self {
            StoreError::Trace { source, .. } => *source,
            other => theater_trace::TraceError::Segments(other.to_string()),
        }
    }
}

/// The most characters of a store's own message that an error quotes.
const STORE_MESSAGE_MAX_CHARS: usize = 300;

/// `line` cut to [`STORE_MESSAGE_MAX_CHARS`] characters (never inside one).
fn shorten(line: &str) -> String {
    match line.char_indices().nth(STORE_MESSAGE_MAX_CHARS) {
        Some((at, _)) => format!("{}…", &line[..at]),
        None => line.to_string(),
    }
}

/// One line for an `object_store` error: what it means first, the store's own words
/// after (its first line only: no request dumps).
fn describe(e: &object_store::Error) -> String {
    let full = e.to_string();
    let first = shorten(full.lines().next().unwrap_or_default());
    let lower = full.to_ascii_lowercase();
    let meaning = match e {
        object_store::Error::NotFound { .. } if lower.contains("nosuchbucket") => {
            "the bucket does not exist"
        }
        object_store::Error::NotFound { .. } => "not found",
        object_store::Error::PermissionDenied { .. }
        | object_store::Error::Unauthenticated { .. } => {
            "access denied: check AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY"
        }
        _ if lower.contains("nosuchbucket") => "the bucket does not exist",
        _ if lower.contains("accessdenied")
            || lower.contains("invalidaccesskeyid")
            || lower.contains("signaturedoesnotmatch")
            || lower.contains("403 forbidden") =>
        {
            "access denied: check AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY"
        }
        _ if lower.contains("connect")
            || lower.contains("error sending request")
            || lower.contains("dns")
            || lower.contains("timed out") =>
        {
            "the store is unreachable"
        }
        _ => "",
    };
    if meaning.is_empty() {
        first
    } else {
        format!("{meaning} ({first})")
    }
}

impl fmt::Display for StoreError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StoreError::BadLocation { location, why } => write!(f, "{location}: {why}"),
            StoreError::Store {
                location,
                operation,
                why,
            } => write!(f, "{location}: {operation}: {why}"),
            StoreError::Trace { location, source } => write!(f, "{location}: {source}"),
            StoreError::Io { context, source } => write!(f, "{context}: {source}"),
        }
    }
}

impl std::error::Error for StoreError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            StoreError::Trace { source, .. } => Some(source.as_ref()),
            StoreError::Io { source, .. } => Some(source),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_long_store_message_is_cut_at_the_limit_and_never_inside_a_character() {
        // Three-byte characters after one ASCII byte: a cut by bytes at the limit would
        // fall inside one.
        let at_limit = format!("a{}", "€".repeat(STORE_MESSAGE_MAX_CHARS - 1));
        assert_eq!(shorten(&at_limit), at_limit);
        let over = format!("{at_limit}€€");
        assert_eq!(shorten(&over), format!("{at_limit}…"));
    }
}

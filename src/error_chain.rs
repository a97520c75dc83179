//! Rendering an error with its sources for reports and messages.

/// `error: source: source…`, by their messages only (the SDK's `Debug` forms are raw structs) — without the debug
/// dump `DisplayErrorContext` appends (that goes to the debug log), so a report line stays readable.
pub(crate) fn render(error: &(dyn std::error::Error + 'static)) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::render;

    #[derive(Debug, thiserror::Error)]
    #[error("dispatch failure")]
    struct Outer(#[source] Middle);

    #[derive(Debug, thiserror::Error)]
    #[error("io error")]
    struct Middle(#[source] std::io::Error);

    #[test]
    fn renders_every_source() {
        let error = Outer(Middle(std::io::Error::other("connection reset")));
        assert_eq!(render(&error), "dispatch failure: io error: connection reset");
        assert_eq!(
            render(&std::fmt::Error),
            "an error occurred when formatting an argument"
        );
    }
}

//! The test's image registry: which digest each image reference points at, and since when on the ECS
//! clock, so a revision resolves its tags to the digests they had at the moment ECS resolved them, however
//! late the test looks.

use std::collections::HashMap;

#[derive(Debug, Default)]
pub(super) struct ImageRegistry {
    /// Image reference, as a container names it → (ECS time in epoch seconds, digest) per push, oldest first.
    pushes: HashMap<String, Vec<(f64, String)>>,
}

impl ImageRegistry {
    /// Points `image` at `digest` from `at` on (a push; the tag moves).
    pub(super) fn push(&mut self, image: &str, digest: &str, at: f64) {
        self.pushes
            .entry(image.to_owned())
            .or_default()
            .push((at, digest.to_owned()));
    }

    /// The digest `image` pointed at at `at`; `None` before its first push.
    pub(super) fn digest_at(&self, image: &str, at: f64) -> Option<&str> {
        let pushes = self.pushes.get(image)?;
        pushes
            .iter()
            .rev()
            .find(|(pushed, _)| *pushed <= at)
            .map(|(_, digest)| digest.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_tag_resolves_to_the_digest_pushed_last_before_the_moment_asked() {
        let mut registry = ImageRegistry::default();
        registry.push("app:latest", "sha256:aa", 100.0);
        registry.push("app:latest", "sha256:bb", 200.0);
        assert_eq!(registry.digest_at("app:latest", 99.0), None);
        assert_eq!(registry.digest_at("app:latest", 100.0), Some("sha256:aa"));
        assert_eq!(registry.digest_at("app:latest", 199.9), Some("sha256:aa"));
        assert_eq!(registry.digest_at("app:latest", 500.0), Some("sha256:bb"));
        assert_eq!(registry.digest_at("other:latest", 500.0), None);
    }
}

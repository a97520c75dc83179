//! Container image references, as written in task definitions and as pushed to ECR.
//!
//! Pure: parsing follows the Docker reference grammar `[host[:port]/]path[:tag][@digest]`,
//! with Docker Hub's implied host and `library/` prefix, and ECR hosts reduced to the
//! registry they name (account and region), so `dkr.ecr` and `dkr.ecr-fips` hosts of one
//! registry compare equal.

use std::fmt;

use thiserror::Error;

const DOCKER_HUB: &str = "docker.io";
const DEFAULT_TAG: &str = "latest";
const MAX_TAG_LEN: usize = 128;
const MAX_REPOSITORY_LEN: usize = 256;

/// The registry an image lives in.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Registry {
    /// An Amazon ECR private registry, whatever endpoint host names it.
    Ecr { account: String, region: String },
    /// Any other registry host (with port), lowercased; Docker Hub is `docker.io`.
    Host(String),
}

impl Registry {
    /// The private ECR registry of an account in a region.
    pub fn ecr(account: &str, region: &str) -> Result<Self, ImageRefError> {
        if !is_account_id(account) {
            return Err(ImageRefError::InvalidAccount(shown(account)));
        }
        if !is_region(region) {
            return Err(ImageRefError::InvalidRegion(shown(region)));
        }
        Ok(Registry::Ecr {
            account: account.to_owned(),
            region: region.to_owned(),
        })
    }

    fn from_host(host: &str) -> Self {
        let host = host.to_ascii_lowercase();
        match host.as_str() {
            "index.docker.io" | "registry-1.docker.io" | "registry.hub.docker.com" => {
                return Registry::Host(DOCKER_HUB.to_owned());
            }
            _ => {}
        }
        parse_ecr_host(&host).unwrap_or(Registry::Host(host))
    }
}

impl fmt::Display for Registry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Registry::Ecr { account, region } => {
                let suffix = if region.starts_with("cn-") {
                    "amazonaws.com.cn"
                } else {
                    "amazonaws.com"
                };
                write!(f, "{account}.dkr.ecr.{region}.{suffix}")
            }
            Registry::Host(host) => f.write_str(host),
        }
    }
}

/// `ACCOUNT.dkr.ecr[-fips].REGION.amazonaws.com[.cn]` or the dual-stack `ACCOUNT.dkr-ecr.REGION.on.aws`.
fn parse_ecr_host(host: &str) -> Option<Registry> {
    let (account, rest) = host.split_once('.')?;
    let rest = rest
        .strip_prefix("dkr.ecr.")
        .or_else(|| rest.strip_prefix("dkr.ecr-fips."))
        .or_else(|| rest.strip_prefix("dkr-ecr."))?;
    let region = rest
        .strip_suffix(".amazonaws.com")
        .or_else(|| rest.strip_suffix(".amazonaws.com.cn"))
        .or_else(|| rest.strip_suffix(".on.aws"))?;
    (is_account_id(account) && is_region(region)).then(|| Registry::Ecr {
        account: account.to_owned(),
        region: region.to_owned(),
    })
}

/// A parsed image reference. `tag` is `None` when the reference names no tag; see [`ImageRef::effective_tag`].
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct ImageRef {
    pub registry: Registry,
    pub repository: String,
    pub tag: Option<String>,
    pub digest: Option<String>,
}

#[derive(Debug, Error, PartialEq, Eq)]
pub enum ImageRefError {
    #[error("image reference is empty")]
    Empty,
    #[error("invalid repository name `{0}`: lowercase letters, digits and separators `.` `_` `-` `/`")]
    InvalidRepository(String),
    #[error("invalid tag `{0}`: up to 128 letters, digits, `_`, `.` or `-`, not starting with `.` or `-`")]
    InvalidTag(String),
    #[error("invalid digest `{0}`: expected `sha256:` and 64 lowercase hex digits")]
    InvalidDigest(String),
    #[error("invalid registry host `{0}`")]
    InvalidHost(String),
    #[error("invalid AWS account id `{0}`: expected 12 digits")]
    InvalidAccount(String),
    #[error("invalid AWS region `{0}`")]
    InvalidRegion(String),
}

impl ImageRef {
    /// Parses a reference as ECS accepts it in a container definition.
    pub fn parse(reference: &str) -> Result<Self, ImageRefError> {
        let reference = reference.trim();
        if reference.is_empty() {
            return Err(ImageRefError::Empty);
        }
        let (name, digest) = match reference.split_once('@') {
            Some((name, digest)) => (name, Some(validate_digest(digest)?)),
            None => (reference, None),
        };
        // A tag is a `:` after the last `/`; a `:` before it belongs to the host's port.
        let last_slash = name.rfind('/').map_or(0, |i| i + 1);
        let (name, tag) = match name[last_slash..].rfind(':') {
            Some(i) => {
                let (name, tag) = name.split_at(last_slash + i);
                (name, Some(validate_tag(&tag[1..])?))
            }
            None => (name, None),
        };
        let (registry, repository) = match name.split_once('/') {
            Some((first, rest)) if first.contains(['.', ':']) || first == "localhost" => {
                validate_host(first)?;
                (Registry::from_host(first), rest.to_owned())
            }
            _ => (Registry::Host(DOCKER_HUB.to_owned()), name.to_owned()),
        };
        let repository = if registry == Registry::Host(DOCKER_HUB.to_owned()) && !repository.contains('/') {
            format!("library/{repository}")
        } else {
            repository
        };
        validate_repository(&repository)?;
        Ok(ImageRef {
            registry,
            repository,
            tag,
            digest,
        })
    }

    /// The tag a pull resolves: the named one, or `latest` when neither a tag nor a digest is given.
    pub fn effective_tag(&self) -> Option<&str> {
        match (&self.tag, &self.digest) {
            (Some(tag), _) => Some(tag),
            (None, None) => Some(DEFAULT_TAG),
            (None, Some(_)) => None,
        }
    }
}

impl fmt::Display for ImageRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.registry, self.repository)?;
        if let Some(tag) = &self.tag {
            write!(f, ":{tag}")?;
        }
        if let Some(digest) = &self.digest {
            write!(f, "@{digest}")?;
        }
        Ok(())
    }
}

pub(crate) fn is_account_id(s: &str) -> bool {
    s.len() == 12 && s.bytes().all(|b| b.is_ascii_digit())
}

/// `us-east-1`, `cn-north-1`, `us-gov-west-1`, `eu-central-2`...: letters-dash-groups ending in a number.
pub(crate) fn is_region(s: &str) -> bool {
    let mut parts = s.split('-');
    let Some(first) = parts.next() else { return false };
    let parts: Vec<&str> = parts.collect();
    let Some((last, middle)) = parts.split_last() else {
        return false;
    };
    first.len() == 2
        && first.bytes().all(|b| b.is_ascii_lowercase())
        && !middle.is_empty()
        && middle
            .iter()
            .all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_lowercase()))
        && !last.is_empty()
        && last.len() <= 2
        && last.bytes().all(|b| b.is_ascii_digit())
}

pub(crate) fn validate_tag(tag: &str) -> Result<String, ImageRefError> {
    let valid = (1..=MAX_TAG_LEN).contains(&tag.len())
        && tag
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'))
        && !tag.starts_with(['.', '-']);
    valid
        .then(|| tag.to_owned())
        .ok_or_else(|| ImageRefError::InvalidTag(shown(tag)))
}

pub(crate) fn validate_digest(digest: &str) -> Result<String, ImageRefError> {
    let valid = digest
        .strip_prefix("sha256:")
        .is_some_and(|hex| hex.len() == 64 && hex.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')));
    valid
        .then(|| digest.to_owned())
        .ok_or_else(|| ImageRefError::InvalidDigest(shown(digest)))
}

/// Path components of lowercase alphanumerics joined by single separators: `.`, `_`, `__` or a
/// run of `-` (Docker's grammar, which ECR enforces).
pub(crate) fn validate_repository(repository: &str) -> Result<(), ImageRefError> {
    let valid = (1..=MAX_REPOSITORY_LEN).contains(&repository.len()) && repository.split('/').all(is_path_component);
    if valid {
        Ok(())
    } else {
        Err(ImageRefError::InvalidRepository(shown(repository)))
    }
}

fn is_path_component(component: &str) -> bool {
    let alphanumeric = |b: &u8| b.is_ascii_lowercase() || b.is_ascii_digit();
    let mut rest = component.as_bytes();
    loop {
        let run = rest.iter().take_while(|b| alphanumeric(b)).count();
        if run == 0 {
            return false;
        }
        rest = &rest[run..];
        if rest.is_empty() {
            return true;
        }
        let separator = match rest {
            [b'_', b'_', ..] => 2,
            [b'.' | b'_', ..] => 1,
            [b'-', ..] => rest.iter().take_while(|b| **b == b'-').count(),
            _ => return false,
        };
        rest = &rest[separator..];
    }
}

/// A value as an error message shows it: escaped (no line breaks or direction overrides reach a
/// terminal or a log) and cut to a readable length.
pub(crate) fn shown(value: &str) -> String {
    const LIMIT: usize = 100;
    let escaped: String = value.escape_debug().collect();
    match escaped.char_indices().nth(LIMIT) {
        Some((cut, _)) => format!("{}… ({} bytes)", &escaped[..cut], value.len()),
        None => escaped,
    }
}

fn validate_host(host: &str) -> Result<(), ImageRefError> {
    let (name, port) = match host.rsplit_once(':') {
        Some((name, port)) => (name, Some(port)),
        None => (host, None),
    };
    let name_ok = !name.is_empty()
        && name.len() <= 253
        && name
            .split('.')
            .all(|label| !label.is_empty() && label.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-'));
    let port_ok = port.is_none_or(|p| !p.is_empty() && p.len() <= 5 && p.bytes().all(|b| b.is_ascii_digit()));
    if name_ok && port_ok {
        Ok(())
    } else {
        Err(ImageRefError::InvalidHost(shown(host)))
    }
}

#[cfg(test)]
mod tests;

//! ECS request limits that moto does not enforce: `DescribeServices` takes at most 10
//! services, and `ListServices`/`ListClusters` answer in pages (moto always returns the whole
//! list and ignores `maxResults` and `nextToken`).

use std::hash::{DefaultHasher, Hash, Hasher};

use serde_json::{Map, Value};

use super::wire::AwsError;

pub(super) const DESCRIBE_SERVICES_MAX: usize = 10;
const PAGE_SIZE_MAX: i64 = 100;
const TOKEN_PREFIX: &str = "ecsfront1.";

pub(super) fn check_describe_services(request: &Map<String, Value>) -> Result<(), AwsError> {
    match request.get("services") {
        Some(Value::Array(services)) if services.len() > DESCRIBE_SERVICES_MAX => {
            Err(AwsError::invalid_parameter(format!(
                "services: at most {DESCRIBE_SERVICES_MAX} services can be described at once, got {}",
                services.len()
            )))
        }
        _ => Ok(()),
    }
}

/// A list action the front pages itself.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(super) enum Listing {
    Services,
    Clusters,
}

impl Listing {
    pub(super) fn of_action(action: &str) -> Option<Self> {
        match action {
            "ListServices" => Some(Self::Services),
            "ListClusters" => Some(Self::Clusters),
            _ => None,
        }
    }

    fn arns_key(self) -> &'static str {
        match self {
            Self::Services => "serviceArns",
            Self::Clusters => "clusterArns",
        }
    }

    /// Page size when `maxResults` is absent, per the ECS API reference.
    fn default_page_size(self) -> usize {
        match self {
            Self::Services => 10,
            Self::Clusters => 100,
        }
    }
}

/// One page asked for: the request to send moto (without paging parameters) and the slice
/// of moto's full answer to return.
#[derive(Debug)]
pub(super) struct PageRequest {
    listing: Listing,
    pub(super) upstream_request: Map<String, Value>,
    offset: usize,
    page_size: usize,
    /// Binds tokens to the request they were issued for (same action, cluster, filters).
    fingerprint: u64,
}

pub(super) fn parse_page_request(listing: Listing, mut request: Map<String, Value>) -> Result<PageRequest, AwsError> {
    let page_size = match request.remove("maxResults") {
        None | Some(Value::Null) => listing.default_page_size(),
        Some(Value::Number(number)) => match number.as_i64() {
            Some(size) if (1..=PAGE_SIZE_MAX).contains(&size) => {
                usize::try_from(size).unwrap_or(listing.default_page_size())
            }
            Some(size) => {
                return Err(AwsError::invalid_parameter(format!(
                    "maxResults must be between 1 and {PAGE_SIZE_MAX}, got {size}"
                )));
            }
            None => return Err(AwsError::serialization("maxResults must be an integer")),
        },
        Some(_) => return Err(AwsError::serialization("maxResults must be an integer")),
    };
    let token = match request.remove("nextToken") {
        None | Some(Value::Null) => None,
        Some(Value::String(token)) => Some(token),
        Some(_) => return Err(AwsError::serialization("nextToken must be a string")),
    };
    let fingerprint = fingerprint(listing, &request);
    let offset = match token {
        None => 0,
        Some(token) => {
            decode_token(&token, fingerprint).ok_or_else(|| AwsError::invalid_parameter("Invalid nextToken"))?
        }
    };
    Ok(PageRequest {
        listing,
        upstream_request: request,
        offset,
        page_size,
        fingerprint,
    })
}

/// Cuts the requested page out of moto's complete answer and sets `nextToken` when more
/// remain.
pub(super) fn page_response(page: &PageRequest, upstream_body: &[u8]) -> Result<Vec<u8>, AwsError> {
    let mut response: Map<String, Value> = serde_json::from_slice(upstream_body)
        .map_err(|error| AwsError::server(format!("moto answered unreadable JSON: {error}")))?;
    let all = match response.remove(page.listing.arns_key()) {
        Some(Value::Array(all)) => all,
        _ => Vec::new(),
    };
    let start = page.offset.min(all.len());
    let end = start.saturating_add(page.page_size).min(all.len());
    let more_remain = end < all.len();
    let page_arns: Vec<Value> = all.into_iter().skip(start).take(end - start).collect();
    response.insert(page.listing.arns_key().to_owned(), Value::Array(page_arns));
    if more_remain {
        response.insert(
            "nextToken".to_owned(),
            Value::String(encode_token(end, page.fingerprint)),
        );
    } else {
        response.remove("nextToken");
    }
    serde_json::to_vec(&response).map_err(|error| AwsError::server(format!("cannot write page: {error}")))
}

fn fingerprint(listing: Listing, request: &Map<String, Value>) -> u64 {
    let mut hasher = DefaultHasher::new();
    listing.hash(&mut hasher);
    Value::Object(request.clone()).to_string().hash(&mut hasher);
    hasher.finish()
}

fn token_check(offset: usize, fingerprint: u64) -> u64 {
    let mut hasher = DefaultHasher::new();
    (offset, fingerprint).hash(&mut hasher);
    hasher.finish()
}

fn encode_token(offset: usize, fingerprint: u64) -> String {
    format!("{TOKEN_PREFIX}{offset}.{:016x}", token_check(offset, fingerprint))
}

/// The offset a token stands for, or `None` when the front did not issue it for this request.
fn decode_token(token: &str, fingerprint: u64) -> Option<usize> {
    let (offset, check) = token.strip_prefix(TOKEN_PREFIX)?.split_once('.')?;
    let offset: usize = offset.parse().ok()?;
    let check = u64::from_str_radix(check, 16).ok()?;
    (check == token_check(offset, fingerprint)).then_some(offset)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(json: Value) -> Map<String, Value> {
        match json {
            Value::Object(map) => map,
            other => panic!("test request must be an object, got {other}"),
        }
    }

    #[test]
    fn a_token_only_fits_the_request_it_was_issued_for() {
        let first =
            parse_page_request(Listing::Services, request(serde_json::json!({"cluster": "a"}))).expect("valid request");
        let token = encode_token(10, first.fingerprint);
        assert_eq!(decode_token(&token, first.fingerprint), Some(10));

        let other_cluster = fingerprint(Listing::Services, &request(serde_json::json!({"cluster": "b"})));
        assert_eq!(decode_token(&token, other_cluster), None);
        let other_action = fingerprint(Listing::Clusters, &request(serde_json::json!({"cluster": "a"})));
        assert_eq!(decode_token(&token, other_action), None);

        let forged = token.replacen(".10.", ".20.", 1);
        assert_eq!(decode_token(&forged, first.fingerprint), None);
    }

    #[test]
    fn paging_parameters_are_not_sent_upstream() {
        let page = parse_page_request(Listing::Clusters, request(serde_json::json!({"maxResults": 5})))
            .expect("valid request");
        assert!(page.upstream_request.is_empty());
        assert_eq!(page.page_size, 5);
    }
}

//! The Lambda port: the container-image functions a push may refresh, in our own vocabulary. `sdk` adapts it to
//! `aws_sdk_lambda` (paced by `pace`); `fake` is the in-memory stand-in of the unit tests.

use std::collections::BTreeMap;
use std::future::Future;

#[cfg(test)]
pub mod fake;
pub mod pace;
pub mod sdk;

/// `ListFunctions` returns at most 50 functions a page, whatever `MaxItems` asks (Lambda API reference).
pub const LIST_FUNCTIONS_PAGE_MAX: i32 = 50;
/// `GetResources` (Resource Groups Tagging API) page size maximum.
pub const TAGGED_PAGE_MAX: i32 = 100;

/// A function as `ListFunctions` lists it: only image functions are kept, and the listing has no image URI.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FunctionSummary {
    pub arn: String,
    pub name: String,
    /// Changes with every update of the function's code or configuration (not of its tags).
    pub revision_id: Option<String>,
}

/// `LastUpdateStatus` of a function.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum UpdateStatus {
    Successful,
    /// Invocations still run the old code; another update or a publish fails until it ends.
    InProgress,
    /// With Lambda's reason.
    Failed(Option<String>),
    /// Lambda gave no status, or one this build does not know.
    Unknown,
}

/// A container-image function as `GetFunction` describes it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Function {
    pub arn: String,
    pub name: String,
    /// `Code.ImageUri`: the image as the function's owner wrote it (by tag, or by digest).
    pub image_uri: String,
    /// `Code.ResolvedImageUri`: the digest Lambda resolved that image to and runs.
    pub resolved_image_uri: Option<String>,
    /// Only present when the role may `lambda:ListTags`.
    pub tags: BTreeMap<String, String>,
    pub last_update_status: UpdateStatus,
    pub revision_id: Option<String>,
}

impl Function {
    /// The digest the function runs, from `ResolvedImageUri` (`…@sha256:…`).
    pub fn running_digest(&self) -> Option<&str> {
        self.resolved_image_uri.as_deref().and_then(resolved_digest)
    }
}

/// What an alias runs: the version it points to and that version's image digest (`ResolvedImageUri`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AliasTarget {
    pub version: String,
    pub digest: Option<String>,
}

/// The digest of a resolved image URI (`…@sha256:…`).
pub fn resolved_digest(uri: &str) -> Option<&str> {
    uri.rsplit_once('@')
        .map(|(_, digest)| digest)
        .filter(|digest| digest.starts_with("sha256:"))
}

/// What `UpdateFunctionCode` answered.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CodeUpdate {
    pub revision_id: Option<String>,
    /// `CodeSha256`: for an image function, the digest of the image Lambda resolved.
    pub code_sha256: Option<String>,
    pub last_update_status: UpdateStatus,
}

/// A failed Lambda call (or tagging-API call made for the functions).
pub type LambdaError = crate::aws::AwsError<crate::aws::Lambda>;

/// What the redeployer needs from AWS Lambda.
pub trait LambdaApi: Send + Sync {
    /// Every function of `PackageType: Image` in the Region, every page.
    fn list_image_functions(&self) -> impl Future<Output = Result<Vec<FunctionSummary>, LambdaError>> + Send;

    /// The ARNs of the functions carrying `tag_key`, from the tagging API (`lambda:function`).
    fn list_tagged_functions(&self, tag_key: &str) -> impl Future<Output = Result<Vec<String>, LambdaError>> + Send;

    /// The image `GetFunction` last gave for the function at this `RevisionId`, without a call: an image URI
    /// cannot change without a new revision.
    fn known_image(&self, summary: &FunctionSummary) -> Option<String>;

    /// `GetFunction`; `None` for a function that is not an image function.
    fn get_function(&self, arn: &str) -> impl Future<Output = Result<Option<Function>, LambdaError>> + Send;

    /// `GetFunction` with `Qualifier` = `alias`: the version the alias points to and the image it runs; `None`
    /// when the function has no such alias (`ResourceNotFoundException`). `GetFunction` on `function:*` covers
    /// the alias ARN, so this needs no other permission than discovery's.
    fn get_alias_target(
        &self,
        arn: &str,
        alias: &str,
    ) -> impl Future<Output = Result<Option<AliasTarget>, LambdaError>> + Send;

    /// `UpdateFunctionCode` with `image_uri` (by tag: Lambda resolves it), conditional on `revision_id`.
    fn update_function_code(
        &self,
        arn: &str,
        image_uri: &str,
        revision_id: Option<&str>,
    ) -> impl Future<Output = Result<CodeUpdate, LambdaError>> + Send;

    /// `PublishVersion` of the code with `code_sha256`; the version number.
    fn publish_version(
        &self,
        arn: &str,
        code_sha256: Option<&str>,
    ) -> impl Future<Output = Result<String, LambdaError>> + Send;

    /// `UpdateAlias`: points `alias` at `version`.
    fn update_alias(
        &self,
        arn: &str,
        alias: &str,
        version: &str,
    ) -> impl Future<Output = Result<(), LambdaError>> + Send;
}

/// The function name of an ARN (`arn:aws:lambda:REGION:ACCOUNT:function:NAME[:QUALIFIER]`), or the name itself.
pub fn function_name(arn_or_name: &str) -> &str {
    match arn_or_name.split_once(":function:") {
        Some((_, rest)) => rest.split(':').next().unwrap_or(rest),
        None => arn_or_name,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn function_names_of_arns() {
        assert_eq!(
            function_name("arn:aws:lambda:us-east-1:123456789012:function:worker"),
            "worker"
        );
        assert_eq!(
            function_name("arn:aws:lambda:us-east-1:123456789012:function:worker:live"),
            "worker"
        );
        assert_eq!(function_name("worker"), "worker");
    }

    #[test]
    fn running_digest_is_the_resolved_image_digest() {
        let digest = format!("sha256:{}", "a".repeat(64));
        let function = Function {
            arn: "arn".into(),
            name: "f".into(),
            image_uri: "123456789012.dkr.ecr.us-east-1.amazonaws.com/app:latest".into(),
            resolved_image_uri: Some(format!("123456789012.dkr.ecr.us-east-1.amazonaws.com/app@{digest}")),
            tags: BTreeMap::new(),
            last_update_status: UpdateStatus::Successful,
            revision_id: None,
        };
        assert_eq!(function.running_digest(), Some(digest.as_str()));
        let unresolved = Function {
            resolved_image_uri: None,
            ..function
        };
        assert_eq!(unresolved.running_digest(), None);
    }
}

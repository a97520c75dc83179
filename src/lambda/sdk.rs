//! The Lambda port over `aws_sdk_lambda::Client`: the only code that knows the Lambda SDK's types.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, PoisonError};

use aws_sdk_lambda::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_lambda::types::{self as sdk, PackageType};

use super::pace::{LambdaPacer, Quota};
use super::{
    AliasTarget, CodeUpdate, Function, FunctionSummary, LIST_FUNCTIONS_PAGE_MAX, LambdaApi, LambdaError,
    TAGGED_PAGE_MAX, UpdateStatus,
};
use crate::aws::ErrorKind;
use crate::ecs::pace::Pacing;

/// The resource type of functions in the Resource Groups Tagging API.
const TAGGED_RESOURCE_TYPE: &str = "lambda:function";

#[derive(Clone, Debug)]
pub struct SdkLambda {
    client: aws_sdk_lambda::Client,
    tagging: aws_sdk_resourcegroupstagging::Client,
    pacer: Arc<LambdaPacer>,
    /// Function ARN → the `RevisionId` and `Code.ImageUri` of its last `GetFunction`, for the warm process.
    images: Arc<Mutex<HashMap<String, (String, String)>>>,
}

impl SdkLambda {
    /// Lambda calls paced to the documented quotas (`ECS_PACING` turns pacing off for both services).
    pub fn new(client: aws_sdk_lambda::Client, tagging: aws_sdk_resourcegroupstagging::Client, pacing: Pacing) -> Self {
        SdkLambda {
            client,
            tagging,
            pacer: Arc::new(LambdaPacer::new(pacing)),
            images: Arc::default(),
        }
    }

    fn remember(&self, function: &Function) {
        if let Some(revision) = &function.revision_id {
            self.images
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .insert(function.arn.clone(), (revision.clone(), function.image_uri.clone()));
        }
    }
}

impl LambdaApi for SdkLambda {
    async fn list_image_functions(&self) -> Result<Vec<FunctionSummary>, LambdaError> {
        let mut functions = Vec::new();
        let mut marker = None;
        loop {
            let page = self
                .pacer
                .call(
                    Quota::ControlPlane,
                    self.client
                        .list_functions()
                        .set_marker(marker)
                        .max_items(LIST_FUNCTIONS_PAGE_MAX)
                        .send(),
                )
                .await
                .map_err(|e| lambda_error("ListFunctions", e))?;
            functions.extend(
                page.functions()
                    .iter()
                    .filter(|f| f.package_type() == Some(&PackageType::Image))
                    .filter_map(|f| {
                        Some(FunctionSummary {
                            arn: f.function_arn()?.to_owned(),
                            name: f.function_name()?.to_owned(),
                            revision_id: f.revision_id().map(str::to_owned),
                        })
                    }),
            );
            marker = page.next_marker().filter(|m| !m.is_empty()).map(str::to_owned);
            if marker.is_none() {
                return Ok(functions);
            }
        }
    }

    async fn list_tagged_functions(&self, tag_key: &str) -> Result<Vec<String>, LambdaError> {
        crate::aws::tagged_arns(&self.tagging, TAGGED_RESOURCE_TYPE, tag_key, TAGGED_PAGE_MAX)
            .await
            .map_err(|e| lambda_error("GetResources", e))
    }

    fn known_image(&self, summary: &FunctionSummary) -> Option<String> {
        let revision = summary.revision_id.as_deref()?;
        let images = self.images.lock().unwrap_or_else(PoisonError::into_inner);
        let (known_revision, image) = images.get(&summary.arn)?;
        (known_revision == revision).then(|| image.clone())
    }

    async fn get_function(&self, arn: &str) -> Result<Option<Function>, LambdaError> {
        let output = self
            .pacer
            .call(Quota::GetFunction, self.client.get_function().function_name(arn).send())
            .await
            .map_err(|e| lambda_error("GetFunction", e))?;
        let Some(configuration) = output.configuration() else {
            return Err(LambdaError::new(
                "GetFunction",
                ErrorKind::Other,
                "answer has no configuration",
            ));
        };
        if configuration.package_type() != Some(&PackageType::Image) {
            return Ok(None);
        }
        let Some(image_uri) = output.code().and_then(|c| c.image_uri()) else {
            return Err(LambdaError::new(
                "GetFunction",
                ErrorKind::Other,
                "an image function's answer has no Code.ImageUri",
            ));
        };
        let function = Function {
            arn: configuration.function_arn().unwrap_or(arn).to_owned(),
            name: configuration
                .function_name()
                .unwrap_or_else(|| super::function_name(arn))
                .to_owned(),
            image_uri: image_uri.to_owned(),
            resolved_image_uri: output.code().and_then(|c| c.resolved_image_uri()).map(str::to_owned),
            tags: output
                .tags()
                .map(|tags| tags.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
                .unwrap_or_else(BTreeMap::new),
            last_update_status: update_status(
                configuration.last_update_status(),
                configuration.last_update_status_reason(),
            ),
            revision_id: configuration.revision_id().map(str::to_owned),
        };
        self.remember(&function);
        Ok(Some(function))
    }

    async fn get_alias_target(&self, arn: &str, alias: &str) -> Result<Option<AliasTarget>, LambdaError> {
        let answer = self
            .pacer
            .call(
                Quota::GetFunction,
                self.client.get_function().function_name(arn).qualifier(alias).send(),
            )
            .await
            .map_err(|e| lambda_error("GetFunction", e));
        let output = match answer {
            Ok(output) => output,
            Err(error) if error.kind == ErrorKind::NotFound => return Ok(None),
            Err(error) => return Err(error),
        };
        let Some(version) = output.configuration().and_then(|c| c.version()) else {
            return Err(LambdaError::new(
                "GetFunction",
                ErrorKind::Other,
                "an alias's answer has no Configuration.Version",
            ));
        };
        Ok(Some(AliasTarget {
            version: version.to_owned(),
            digest: output
                .code()
                .and_then(|c| c.resolved_image_uri())
                .and_then(super::resolved_digest)
                .map(str::to_owned),
        }))
    }

    async fn update_function_code(
        &self,
        arn: &str,
        image_uri: &str,
        revision_id: Option<&str>,
    ) -> Result<CodeUpdate, LambdaError> {
        let output = self
            .pacer
            .call(
                Quota::ControlPlane,
                self.client
                    .update_function_code()
                    .function_name(arn)
                    .image_uri(image_uri)
                    .set_revision_id(revision_id.map(str::to_owned))
                    .send(),
            )
            .await
            .map_err(|e| lambda_error("UpdateFunctionCode", e))?;
        Ok(CodeUpdate {
            revision_id: output.revision_id().map(str::to_owned),
            code_sha256: output.code_sha256().map(str::to_owned),
            last_update_status: update_status(output.last_update_status(), output.last_update_status_reason()),
        })
    }

    async fn publish_version(&self, arn: &str, code_sha256: Option<&str>) -> Result<String, LambdaError> {
        let output = self
            .pacer
            .call(
                Quota::ControlPlane,
                self.client
                    .publish_version()
                    .function_name(arn)
                    .set_code_sha256(code_sha256.map(str::to_owned))
                    .send(),
            )
            .await
            .map_err(|e| lambda_error("PublishVersion", e))?;
        output
            .version()
            .map(str::to_owned)
            .ok_or_else(|| LambdaError::new("PublishVersion", ErrorKind::Other, "answer has no version"))
    }

    async fn update_alias(&self, arn: &str, alias: &str, version: &str) -> Result<(), LambdaError> {
        self.pacer
            .call(
                Quota::ControlPlane,
                self.client
                    .update_alias()
                    .function_name(arn)
                    .name(alias)
                    .function_version(version)
                    .send(),
            )
            .await
            .map_err(|e| lambda_error("UpdateAlias", e))?;
        Ok(())
    }
}

fn update_status(status: Option<&sdk::LastUpdateStatus>, reason: Option<&str>) -> UpdateStatus {
    match status {
        Some(sdk::LastUpdateStatus::Successful) => UpdateStatus::Successful,
        Some(sdk::LastUpdateStatus::InProgress) => UpdateStatus::InProgress,
        Some(sdk::LastUpdateStatus::Failed) => UpdateStatus::Failed(reason.map(str::to_owned)),
        _ => UpdateStatus::Unknown,
    }
}

fn lambda_error<E, R>(operation: &'static str, error: SdkError<E, R>) -> LambdaError
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    R: std::fmt::Debug + Send + Sync + 'static,
{
    LambdaError::from_sdk(operation, error, classify)
}

/// Lambda's error codes (botocore lambda/2015-03-31), and the tagging API's throttling.
fn classify(code: &str) -> ErrorKind {
    match code {
        "TooManyRequestsException" | "ThrottlingException" | "ThrottledException" => ErrorKind::Throttling,
        // An update in progress, or the `RevisionId` the call was conditional on moved.
        "ResourceConflictException" | "PreconditionFailedException" => ErrorKind::Conflict,
        "ResourceNotFoundException" => ErrorKind::NotFound,
        "InvalidParameterValueException" => ErrorKind::InvalidParameter,
        "AccessDeniedException" => ErrorKind::AccessDenied,
        _ => ErrorKind::Other,
    }
}

#[cfg(test)]
mod tests;

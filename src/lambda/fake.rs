//! An in-memory Lambda for the unit tests: image functions by ARN, the calls made, and injectable failures.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Mutex, PoisonError};

use super::{AliasTarget, CodeUpdate, Function, FunctionSummary, LambdaApi, LambdaError, UpdateStatus};
use crate::aws::ErrorKind;

#[derive(Debug, Default)]
pub struct FakeLambda {
    state: Mutex<State>,
}

#[derive(Debug, Default)]
struct State {
    functions: BTreeMap<String, Function>,
    /// Tag → digest, as `UpdateFunctionCode` resolves `REGISTRY/REPO:TAG` (the whole image URI is the key).
    tags: HashMap<String, String>,
    /// Operation and function ARN → the error kind the next such call fails with.
    failures: HashMap<(&'static str, String), ErrorKind>,
    /// Functions whose updates stay `InProgress` for this many `GetFunction` calls.
    slow: HashMap<String, usize>,
    calls: Vec<(&'static str, String)>,
    versions: HashMap<String, u32>,
    /// (function ARN, version) → the digest the version runs.
    version_digests: HashMap<(String, String), Option<String>>,
    aliases: BTreeMap<(String, String), String>,
    images_known: HashMap<String, (String, String)>,
}

impl FakeLambda {
    pub fn with(functions: impl IntoIterator<Item = Function>) -> Self {
        let fake = FakeLambda::default();
        for function in functions {
            fake.put(function);
        }
        fake
    }

    pub fn put(&self, function: Function) {
        self.lock().functions.insert(function.arn.clone(), function);
    }

    /// What `UpdateFunctionCode` with `image_uri` resolves to.
    pub fn resolve(&self, image_uri: &str, digest: &str) {
        self.lock().tags.insert(image_uri.to_owned(), digest.to_owned());
    }

    pub fn fail(&self, operation: &'static str, arn: &str, kind: ErrorKind) {
        self.lock().failures.insert((operation, arn.to_owned()), kind);
    }

    /// The function's next update stays `InProgress` through `polls` `GetFunction` calls.
    pub fn slow(&self, arn: &str, polls: usize) {
        self.lock().slow.insert(arn.to_owned(), polls);
    }

    pub fn function(&self, arn: &str) -> Function {
        self.lock().functions[arn].clone()
    }

    pub fn alias(&self, arn: &str, alias: &str) -> Option<String> {
        self.lock().aliases.get(&(arn.to_owned(), alias.to_owned())).cloned()
    }

    /// An alias already pointing at a published `version` that runs `digest`.
    pub fn put_alias(&self, arn: &str, alias: &str, version: u32, digest: &str) {
        let mut state = self.lock();
        let latest = state.versions.entry(arn.to_owned()).or_default();
        *latest = (*latest).max(version);
        state
            .version_digests
            .insert((arn.to_owned(), version.to_string()), Some(digest.to_owned()));
        state
            .aliases
            .insert((arn.to_owned(), alias.to_owned()), version.to_string());
    }

    /// The calls made, as (operation, function ARN or `*`).
    pub fn calls(&self) -> Vec<(&'static str, String)> {
        self.lock().calls.clone()
    }

    pub fn count(&self, operation: &str) -> usize {
        self.lock().calls.iter().filter(|(op, _)| *op == operation).count()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn call(&self, operation: &'static str, arn: &str) -> Result<(), LambdaError> {
        let mut state = self.lock();
        state.calls.push((operation, arn.to_owned()));
        match state.failures.remove(&(operation, arn.to_owned())) {
            Some(kind) => Err(LambdaError::new(operation, kind, format!("injected {kind:?}"))),
            None => Ok(()),
        }
    }
}

fn not_found(operation: &'static str, arn: &str) -> LambdaError {
    LambdaError::new(operation, ErrorKind::NotFound, format!("Function not found: {arn}"))
}

impl LambdaApi for FakeLambda {
    async fn list_image_functions(&self) -> Result<Vec<FunctionSummary>, LambdaError> {
        self.call("ListFunctions", "*")?;
        Ok(self
            .lock()
            .functions
            .values()
            .map(|f| FunctionSummary {
                arn: f.arn.clone(),
                name: f.name.clone(),
                revision_id: f.revision_id.clone(),
            })
            .collect())
    }

    async fn list_tagged_functions(&self, tag_key: &str) -> Result<Vec<String>, LambdaError> {
        self.call("GetResources", "*")?;
        Ok(self
            .lock()
            .functions
            .values()
            .filter(|f| f.tags.contains_key(tag_key))
            .map(|f| f.arn.clone())
            .collect())
    }

    fn known_image(&self, summary: &FunctionSummary) -> Option<String> {
        let state = self.lock();
        let (revision, image) = state.images_known.get(&summary.arn)?;
        (Some(revision) == summary.revision_id.as_ref()).then(|| image.clone())
    }

    async fn get_function(&self, arn: &str) -> Result<Option<Function>, LambdaError> {
        self.call("GetFunction", arn)?;
        let mut state = self.lock();
        let polls = state.slow.get(arn).copied();
        let Some(function) = state.functions.get_mut(arn) else {
            return Err(not_found("GetFunction", arn));
        };
        if function.last_update_status == UpdateStatus::InProgress && polls.is_none_or(|p| p == 0) {
            function.last_update_status = UpdateStatus::Successful;
        }
        let function = function.clone();
        if let Some(polls) = state.slow.get_mut(arn) {
            *polls = polls.saturating_sub(1);
        }
        if let Some(revision) = &function.revision_id {
            state
                .images_known
                .insert(arn.to_owned(), (revision.clone(), function.image_uri.clone()));
        }
        Ok(Some(function))
    }

    async fn get_alias_target(&self, arn: &str, alias: &str) -> Result<Option<AliasTarget>, LambdaError> {
        self.call("GetFunction", arn)?;
        let state = self.lock();
        let Some(version) = state.aliases.get(&(arn.to_owned(), alias.to_owned())) else {
            return Ok(None);
        };
        Ok(Some(AliasTarget {
            version: version.clone(),
            digest: state
                .version_digests
                .get(&(arn.to_owned(), version.clone()))
                .cloned()
                .flatten(),
        }))
    }

    async fn update_function_code(
        &self,
        arn: &str,
        image_uri: &str,
        revision_id: Option<&str>,
    ) -> Result<CodeUpdate, LambdaError> {
        self.call("UpdateFunctionCode", arn)?;
        let mut state = self.lock();
        let digest = state.tags.get(image_uri).cloned();
        let slow = state.slow.contains_key(arn);
        let Some(function) = state.functions.get_mut(arn) else {
            return Err(not_found("UpdateFunctionCode", arn));
        };
        if function.last_update_status == UpdateStatus::InProgress {
            let message = format!("An update is in progress for resource: {arn}");
            return Err(LambdaError::new("UpdateFunctionCode", ErrorKind::Conflict, message));
        }
        if revision_id.is_some() && revision_id != function.revision_id.as_deref() {
            let message = "The Revision Id provided does not match the latest Revision Id".to_owned();
            return Err(LambdaError::new("UpdateFunctionCode", ErrorKind::Conflict, message));
        }
        let Some(digest) = digest else {
            let message = format!("Source image {image_uri} does not exist");
            return Err(LambdaError::new(
                "UpdateFunctionCode",
                ErrorKind::InvalidParameter,
                message,
            ));
        };
        let (name, _) = image_uri.rsplit_once(':').unwrap_or((image_uri, ""));
        function.image_uri = image_uri.to_owned();
        function.resolved_image_uri = Some(format!("{name}@{digest}"));
        function.revision_id = Some(format!("{}+", function.revision_id.clone().unwrap_or_default()));
        function.last_update_status = if slow {
            UpdateStatus::InProgress
        } else {
            UpdateStatus::Successful
        };
        Ok(CodeUpdate {
            revision_id: function.revision_id.clone(),
            code_sha256: digest.strip_prefix("sha256:").map(str::to_owned),
            last_update_status: function.last_update_status.clone(),
        })
    }

    async fn publish_version(&self, arn: &str, _code_sha256: Option<&str>) -> Result<String, LambdaError> {
        self.call("PublishVersion", arn)?;
        let mut state = self.lock();
        if state.functions.get(arn).map(|f| &f.last_update_status) == Some(&UpdateStatus::InProgress) {
            let message = format!("An update is in progress for resource: {arn}");
            return Err(LambdaError::new("PublishVersion", ErrorKind::Conflict, message));
        }
        let digest = state
            .functions
            .get(arn)
            .and_then(Function::running_digest)
            .map(str::to_owned);
        let version = state.versions.entry(arn.to_owned()).or_default();
        *version += 1;
        let version = version.to_string();
        state.version_digests.insert((arn.to_owned(), version.clone()), digest);
        Ok(version)
    }

    async fn update_alias(&self, arn: &str, alias: &str, version: &str) -> Result<(), LambdaError> {
        self.call("UpdateAlias", arn)?;
        self.lock()
            .aliases
            .insert((arn.to_owned(), alias.to_owned()), version.to_owned());
        Ok(())
    }
}

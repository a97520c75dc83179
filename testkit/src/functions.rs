//! Container-image Lambda functions in moto: created on an image moto's ECR holds (`MOTO_LAMBDA_STUB_ECR=false`
//! resolves the tag there), tagged, and read back.

use aws_sdk_lambda::types::{FunctionCode, PackageType};

use crate::fleet::registry;
use crate::moto::Moto;

/// Creates the image function `name` on `REGISTRY/image` (`repo:tag`, in the test registry), with `tags`, and
/// returns its ARN. The image must be in moto's ECR already (see `registry::push_image`).
pub async fn create_image_function(moto: &Moto, name: &str, image: &str, tags: &[(&str, &str)]) -> String {
    let role = moto.create_lambda_role(&format!("{name}-role"));
    let mut create = moto
        .lambda_client()
        .create_function()
        .function_name(name)
        .role(role)
        .package_type(PackageType::Image)
        .code(
            FunctionCode::builder()
                .image_uri(format!("{}/{image}", registry()))
                .build(),
        );
    for (key, value) in tags {
        create = create.tags(*key, *value);
    }
    let created = create.send().await.expect("moto creates the function");
    created.function_arn().expect("an ARN").to_owned()
}

/// Creates alias `alias` of the function on its `$LATEST` version.
pub async fn create_alias(moto: &Moto, name: &str, alias: &str) {
    moto.lambda_client()
        .create_alias()
        .function_name(name)
        .name(alias)
        .function_version("$LATEST")
        .send()
        .await
        .expect("moto creates the alias");
}

/// The function's `CodeSha256` (for an image function, the digest Lambda resolved, without `sha256:`).
pub async fn code_sha256(moto: &Moto, name: &str) -> String {
    let function = moto
        .lambda_client()
        .get_function()
        .function_name(name)
        .send()
        .await
        .expect("moto describes the function");
    function
        .configuration()
        .and_then(|c| c.code_sha256())
        .expect("a CodeSha256")
        .to_owned()
}

/// The version alias `alias` points to.
pub async fn alias_version(moto: &Moto, name: &str, alias: &str) -> String {
    moto.lambda_client()
        .get_alias()
        .function_name(name)
        .name(alias)
        .send()
        .await
        .expect("moto describes the alias")
        .function_version()
        .expect("a version")
        .to_owned()
}

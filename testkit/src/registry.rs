//! Images in moto's ECR that the strict front's registry knows too: what a push does to both.

use aws_sdk_ecr::types::ImageIdentifier;

use crate::fleet::registry;
use crate::front::Front;
use crate::moto::{Moto, ecs_client_for};

/// Pushes a distinct image as `repository:tag` to moto's ECR (creating the repository) and points the front's
/// registry at its digest; returns the digest. moto's digest is the hash of the layer digests, so `content`
/// becomes the one layer's digest: distinct contents, distinct digests.
pub async fn push_image(moto: &Moto, front: &Front, repository: &str, tag: &str, content: &str) -> String {
    let ecr = moto.ecr_client();
    // Already there after the first push of the repository: nothing to do.
    let _ = ecr.create_repository().repository_name(repository).send().await;
    let layer: String = content.bytes().map(|b| format!("{b:02x}")).collect();
    let manifest = format!(
        r#"{{"schemaVersion":2,"mediaType":"application/vnd.docker.distribution.manifest.v2+json",
            "config":{{"mediaType":"application/vnd.docker.container.image.v1+json","size":1,
                       "digest":"sha256:{layer:0<64.64}"}},
            "layers":[{{"mediaType":"application/vnd.docker.image.rootfs.diff.tar.gzip","size":1,
                        "digest":"sha256:{layer:0<64.64}"}}]}}"#
    );
    let put = ecr
        .put_image()
        .repository_name(repository)
        .image_tag(tag)
        .image_manifest(manifest)
        .send()
        .await
        .expect("moto takes the image");
    let digest = put
        .image()
        .and_then(|i| i.image_id())
        .and_then(ImageIdentifier::image_digest)
        .expect("moto computes the digest")
        .to_owned();
    front.set_image_digest(&format!("{}/{repository}:{tag}", registry()), &digest);
    digest
}

/// Describes every service of `clusters` through the front, so each gets its first revision now, resolved to
/// what the registry holds now (the front records a service when it first describes it).
pub async fn observe_services(front: &Front, clusters: &[&str]) {
    let client = ecs_client_for(&front.endpoint_url());
    for cluster in clusters {
        let arns: Vec<String> = client
            .list_services()
            .cluster(*cluster)
            .into_paginator()
            .items()
            .send()
            .collect::<Result<_, _>>()
            .await
            .expect("listed");
        for batch in arns.chunks(10) {
            client
                .describe_services()
                .cluster(*cluster)
                .set_services(Some(batch.to_vec()))
                .send()
                .await
                .expect("described");
        }
    }
}

/// What a failed rollout looks like: `cluster/service` is forced to a new deployment through the front, and its
/// circuit breaker rolls it back to its last completed revision.
pub async fn deploy_and_roll_back(front: &Front, cluster: &str, service: &str) {
    let deployed = ecs_client_for(&front.endpoint_url())
        .update_service()
        .cluster(cluster)
        .service(service)
        .force_new_deployment(true)
        .send()
        .await
        .expect("deployed");
    let arn = deployed
        .service()
        .and_then(|s| s.service_arn())
        .expect("the service's ARN");
    front.roll_back(arn);
}

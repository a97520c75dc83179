//! The strategy of a typical hand-written redeploy Lambda, for comparison: one call at a time,
//! `ListServices` with its default page of 10, `DescribeServices` per page, one
//! `DescribeTaskDefinition` per service (no cache), an exact image-string compare, and
//! `UpdateService` for each match. Errors are counted and skipped so the call count is complete.

use std::time::Instant;

use aws_sdk_ecs::Client;
use ecs_redeploy_testkit::moto::{Moto, ecs_client_for};

use super::engine::{Measured, start_front};
use super::seed::pushed_image;

#[derive(Debug, Default)]
pub struct NaiveOutcome {
    pub updated: usize,
    pub failures: usize,
}

/// One run behind a new front (full buckets), measured like the engine's.
pub async fn measure(moto: &Moto, cluster_limit: usize) -> Measured {
    let front = start_front(moto).await;
    let started = Instant::now();
    let outcome = run(&ecs_client_for(&front.endpoint_url()), &pushed_image(), cluster_limit).await;
    Measured {
        counts: front.calls(),
        wall: started.elapsed(),
        failed: outcome.failures,
        scan_errors: 0,
        throttled_failures: outcome.failures,
        redeployed: outcome.updated,
        failures: std::collections::BTreeMap::new(),
    }
}

/// Runs over the first `cluster_limit` clusters `ListClusters` returns.
pub async fn run(client: &Client, image: &str, cluster_limit: usize) -> NaiveOutcome {
    let mut outcome = NaiveOutcome::default();
    let clusters = match client.list_clusters().send().await {
        Ok(output) => output.cluster_arns().to_vec(),
        Err(_) => {
            outcome.failures += 1;
            return outcome;
        }
    };
    for cluster in clusters.iter().take(cluster_limit) {
        let mut next_token = None;
        loop {
            let page = match client
                .list_services()
                .cluster(cluster)
                .set_next_token(next_token.take())
                .send()
                .await
            {
                Ok(page) => page,
                Err(_) => {
                    outcome.failures += 1;
                    break;
                }
            };
            if !page.service_arns().is_empty() {
                visit_page(client, cluster, page.service_arns(), image, &mut outcome).await;
            }
            match page.next_token() {
                Some(token) => next_token = Some(token.to_owned()),
                None => break,
            }
        }
    }
    outcome
}

async fn visit_page(client: &Client, cluster: &str, arns: &[String], image: &str, outcome: &mut NaiveOutcome) {
    let described = match client
        .describe_services()
        .cluster(cluster)
        .set_services(Some(arns.to_vec()))
        .send()
        .await
    {
        Ok(described) => described,
        Err(_) => {
            outcome.failures += 1;
            return;
        }
    };
    for service in described.services() {
        let Some(task_definition) = service.task_definition() else {
            continue;
        };
        let definition = match client
            .describe_task_definition()
            .task_definition(task_definition)
            .send()
            .await
        {
            Ok(output) => output,
            Err(_) => {
                outcome.failures += 1;
                continue;
            }
        };
        let uses_image = definition
            .task_definition()
            .is_some_and(|td| td.container_definitions().iter().any(|c| c.image() == Some(image)));
        if !uses_image {
            continue;
        }
        let updated = client
            .update_service()
            .cluster(cluster)
            .service(service.service_arn().unwrap_or_default())
            .force_new_deployment(true)
            .send()
            .await;
        match updated {
            Ok(_) => outcome.updated += 1,
            Err(_) => outcome.failures += 1,
        }
    }
}

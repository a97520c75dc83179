//! The bench fleet, seeded straight into moto (never through the front): 40 task-definition
//! revisions, clusters of 100 services, and every 40th service running the pushed image. Those and one
//! other service in 80 carry the opt-in tag (`ecs-redeploy=on`), set by `CreateService` itself.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use aws_sdk_ecs::Client;
use aws_sdk_ecs::types::Tag;
use ecs_redeploy_testkit::fleet::{register_task_definition, registry};

use super::engine::{Calls, digest_reads, running_budget};
use futures_util::{StreamExt, TryStreamExt, stream};

pub const SERVICES_PER_CLUSTER: usize = 100;
pub const REVISIONS: usize = 40;
/// Every 40th service (by global index) uses the pushed image: 50 of 2,000, 250 of 10,000.
const MATCH_EVERY: usize = 40;
/// Calls in flight while seeding. moto is one Python process, so this mostly overlaps HTTP and
/// client work: about 300 services/s here (2,000 in ~6 s, 8,000 more in ~26 s).
const SEED_CONCURRENCY: usize = 16;
/// The opt-in tag (the default `TAG_KEY`, value `on`: the default action).
pub const OPT_IN_TAG: (&str, &str) = ("ecs-redeploy", "on");
/// Besides the matching services, one in this many is tagged too: 25 of 2,000, on 25 revisions.
const OPT_IN_OTHER_EVERY: usize = 80;

pub fn pushed_image() -> String {
    format!("{}/app:latest", registry())
}

pub fn cluster_name(index: usize) -> String {
    format!("bench-{index:03}")
}

/// Revisions below this one refer to the pushed repository (see `images`): the push relates to their services.
const RELATED_REVISIONS: usize = 5;

/// Revisions 0 and 1 match the push; 2–4 are related (another tag, digest-pinned, Docker Hub);
/// the rest run other repositories.
fn images(revision: usize) -> Vec<String> {
    let r = registry();
    match revision {
        0 => vec![format!("{r}/app:latest")],
        1 => vec![format!("{r}/app:latest"), format!("{r}/envoy:v1.30")],
        2 => vec![format!("{r}/app:v1")],
        3 => vec![format!("{r}/app:latest@sha256:{}", "ab".repeat(32))],
        4 => vec!["app:latest".to_owned()],
        n => vec![format!("{r}/svc-{n}:latest")],
    }
}

fn revision_of(global_index: usize) -> usize {
    match global_index % MATCH_EVERY {
        0 => (global_index / MATCH_EVERY) % 2,
        k => 2 + (k - 1) % (REVISIONS - 2),
    }
}

/// Every matching service, and in each run of 80 services the one at offset 1 + (run % 38): never a
/// matching one (offsets 1–38 of 80, never 0 or 40), and on revision 2 + (run % 38) — the related
/// revisions 2–4 (another tag, digest-pinned, Docker Hub) among them.
fn opted_in(global_index: usize) -> bool {
    let run = global_index / OPT_IN_OTHER_EVERY;
    global_index.is_multiple_of(MATCH_EVERY) || global_index % OPT_IN_OTHER_EVERY == 1 + run % (REVISIONS - 2)
}

/// What a `SELECT=opted-in` run over `clusters` clusters needs, in the order of `engine::ACTIONS`: its
/// minimum — nothing listed, the tagged services described 10 at a time per cluster, each of their revisions
/// described once, the digests of the tagged ones a push could redeploy (the matching ones) read, one update
/// per match (the terms of `engine::fleet_minimum`) —, the running budget of the tagged related ones it cannot
/// redeploy, and the tagged count.
pub fn opted_in_minimum(clusters: usize) -> (Calls, Calls, usize) {
    let (mut batches, mut tagged, mut related, mut revisions) = (0, 0, 0, BTreeSet::new());
    for c in 0..clusters {
        let in_cluster: Vec<_> = (c * SERVICES_PER_CLUSTER..(c + 1) * SERVICES_PER_CLUSTER)
            .filter(|i| opted_in(*i))
            .collect();
        batches += in_cluster.len().div_ceil(10);
        tagged += in_cluster.len();
        related += in_cluster
            .iter()
            .filter(|i| revision_of(**i) < RELATED_REVISIONS)
            .count();
        revisions.extend(in_cluster.iter().map(|i| revision_of(*i)));
    }
    // Every matching service is tagged.
    let matches = (clusters * SERVICES_PER_CLUSTER).div_ceil(MATCH_EVERY);
    let reads = digest_reads(matches);
    let minimum = [0, 0, batches, revisions.len(), reads, reads, matches];
    (minimum.map(|n| n as u64), running_budget(related, matches), tagged)
}

pub struct Fleet {
    client: Client,
    task_definitions: Vec<String>,
    pub clusters: usize,
}

impl Fleet {
    /// Registers the 40 revisions (one family each); no clusters yet.
    pub async fn register(client: Client) -> Fleet {
        let mut task_definitions = Vec::with_capacity(REVISIONS);
        for revision in 0..REVISIONS {
            let family = format!("bench-td-{revision:02}");
            task_definitions.push(register_task_definition(&client, &family, &images(revision), None).await);
        }
        Fleet {
            client,
            task_definitions,
            clusters: 0,
        }
    }

    pub fn services(&self) -> usize {
        self.clusters * SERVICES_PER_CLUSTER
    }

    pub fn matching(&self) -> usize {
        self.services().div_ceil(MATCH_EVERY)
    }

    /// Services the push relates to: the ones on revisions 0–4.
    pub fn related(&self) -> usize {
        (0..self.services())
            .filter(|i| revision_of(*i) < RELATED_REVISIONS)
            .count()
    }

    /// Adds clusters (and their services) up to `clusters`, `SEED_CONCURRENCY` calls at a time.
    pub async fn grow_to(&mut self, clusters: usize) -> Duration {
        let started = Instant::now();
        let client = &self.client;
        let new = self.clusters..clusters;
        stream::iter(new.clone())
            .map(|c| async move { client.create_cluster().cluster_name(cluster_name(c)).send().await })
            .buffer_unordered(SEED_CONCURRENCY)
            .try_collect::<Vec<_>>()
            .await
            .expect("create clusters");
        let task_definitions = &self.task_definitions;
        stream::iter(new.flat_map(|c| (0..SERVICES_PER_CLUSTER).map(move |s| (c, s))))
            .map(|(c, s)| async move {
                let index = c * SERVICES_PER_CLUSTER + s;
                let tag = Tag::builder().key(OPT_IN_TAG.0).value(OPT_IN_TAG.1).build();
                client
                    .create_service()
                    .cluster(cluster_name(c))
                    .service_name(format!("svc-{s:03}"))
                    .task_definition(&task_definitions[revision_of(index)])
                    .desired_count(1)
                    .set_tags(opted_in(index).then(|| vec![tag]))
                    .send()
                    .await
            })
            .buffer_unordered(SEED_CONCURRENCY)
            .try_collect::<Vec<_>>()
            .await
            .expect("create services");
        self.clusters = clusters;
        started.elapsed()
    }
}

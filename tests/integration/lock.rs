//! The DynamoDB deploy lock through the real SDK client against moto's DynamoDB; the table's items are the judge.

use std::collections::HashMap;

use aws_sdk_dynamodb::types::AttributeValue;
use chrono::Utc;
use ecs_redeploy::error_chain::render;
use ecs_redeploy::lock::dynamodb::DynamoDbLock;
use ecs_redeploy::lock::{Claim, ClaimState, DONE_TTL, DeployLock, IN_PROGRESS_TTL, LockKey};
use futures_util::future::join_all;

use ecs_redeploy_testkit::moto::{Moto, create_lock_table};

const TABLE: &str = "ecs-redeploy-locks";
const WEB: &str = "arn:aws:ecs:us-east-1:123456789012:service/shop/web";
const WORKER: &str = "arn:aws:ecs:us-east-1:123456789012:service/shop/worker";
const DIGEST: &str = "sha256:1111111111111111111111111111111111111111111111111111111111111111";
const OTHER_DIGEST: &str = "sha256:2222222222222222222222222222222222222222222222222222222222222222";

/// A moto server with the lock table, the lock over it, and a client to inspect the table. The server is serial:
/// moto's threaded one does not make a conditional put atomic, and the lock relies on DynamoDB doing so.
async fn lock_in_moto() -> (Moto, DynamoDbLock, aws_sdk_dynamodb::Client) {
    let moto = Moto::start_serial();
    let client = moto.dynamodb_client();
    create_lock_table(&client, TABLE).await;
    let lock = DynamoDbLock::new(moto.function_dynamodb_client(), TABLE);
    (moto, lock, client)
}

async fn stored(client: &aws_sdk_dynamodb::Client, key: &LockKey) -> Option<HashMap<String, AttributeValue>> {
    client
        .get_item()
        .table_name(TABLE)
        .key("id", AttributeValue::S(key.id()))
        .consistent_read(true)
        .send()
        .await
        .expect("item read")
        .item
}

fn text<'a>(item: &'a HashMap<String, AttributeValue>, name: &str) -> &'a str {
    item.get(name)
        .and_then(|v| v.as_s().ok())
        .map(String::as_str)
        .unwrap_or_else(|| panic!("no `{name}` in {item:?}"))
}

fn expiry(item: &HashMap<String, AttributeValue>) -> i64 {
    item.get("expires_at")
        .and_then(|v| v.as_n().ok())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no numeric `expires_at` in {item:?}"))
}

/// Writes a claim as another invocation (or an older one) left it.
async fn put_claim(client: &aws_sdk_dynamodb::Client, key: &LockKey, state: &str, expires_at: i64) {
    client
        .put_item()
        .table_name(TABLE)
        .item("id", AttributeValue::S(key.id()))
        .item("state", AttributeValue::S(state.to_owned()))
        .item("expires_at", AttributeValue::N(expires_at.to_string()))
        .send()
        .await
        .expect("claim written");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn of_concurrent_claims_exactly_one_acquires() {
    let (_moto, lock, client) = lock_in_moto().await;
    let key = LockKey::new(WEB, DIGEST);

    let before = Utc::now().timestamp();
    let claims = join_all((0..20).map(|_| {
        let (lock, key) = (lock.clone(), key.clone());
        tokio::spawn(async move { lock.claim(&key).await })
    }))
    .await;
    let after = Utc::now().timestamp();

    let claims: Vec<Claim> = claims.into_iter().map(|c| c.unwrap().unwrap()).collect();
    assert_eq!(
        claims.iter().filter(|c| **c == Claim::Acquired).count(),
        1,
        "{claims:?}"
    );
    assert_eq!(
        claims
            .iter()
            .filter(|c| **c == Claim::Held(ClaimState::InProgress))
            .count(),
        19,
        "{claims:?}"
    );

    let item = stored(&client, &key).await.expect("the claim is stored");
    assert_eq!(text(&item, "state"), "in-progress");
    assert_eq!(text(&item, "service_arn"), WEB);
    assert_eq!(text(&item, "digest"), DIGEST);
    let ttl = IN_PROGRESS_TTL.as_secs() as i64;
    assert!((before + ttl..=after + ttl).contains(&expiry(&item)), "{item:?}");
    let claimed_at = chrono::DateTime::parse_from_rfc3339(text(&item, "claimed_at")).expect("an RFC 3339 time");
    assert!((before..=after).contains(&claimed_at.timestamp()), "{item:?}");
}

#[tokio::test]
async fn a_completed_claim_holds_repeats_off_for_a_day() {
    let (_moto, lock, client) = lock_in_moto().await;
    let key = LockKey::new(WEB, DIGEST);

    assert_eq!(lock.claim(&key).await.unwrap(), Claim::Acquired);
    let before = Utc::now().timestamp();
    lock.complete(&key).await.unwrap();
    let after = Utc::now().timestamp();
    assert_eq!(lock.claim(&key).await.unwrap(), Claim::Held(ClaimState::Done));

    let item = stored(&client, &key).await.expect("the claim is stored");
    assert_eq!(text(&item, "state"), "done");
    let ttl = DONE_TTL.as_secs() as i64;
    assert!((before + ttl..=after + ttl).contains(&expiry(&item)), "{item:?}");
    assert!(item.contains_key("completed_at"), "{item:?}");

    // A late release (say, of a stale duplicate) leaves the done record in place.
    lock.release(&key).await.unwrap();
    assert_eq!(lock.claim(&key).await.unwrap(), Claim::Held(ClaimState::Done));
}

#[tokio::test]
async fn complete_records_the_deployment_even_when_the_claim_vanished() {
    let (_moto, lock, client) = lock_in_moto().await;
    let key = LockKey::new(WEB, DIGEST);

    lock.complete(&key).await.unwrap();

    let item = stored(&client, &key).await.expect("the done record is stored");
    assert_eq!(text(&item, "state"), "done");
    assert_eq!(text(&item, "service_arn"), WEB);
    assert_eq!(text(&item, "digest"), DIGEST);
    assert_eq!(lock.claim(&key).await.unwrap(), Claim::Held(ClaimState::Done));
}

#[tokio::test]
async fn a_released_claim_can_be_claimed_again() {
    let (_moto, lock, client) = lock_in_moto().await;
    let key = LockKey::new(WEB, DIGEST);

    assert_eq!(lock.claim(&key).await.unwrap(), Claim::Acquired);
    assert_eq!(lock.claim(&key).await.unwrap(), Claim::Held(ClaimState::InProgress));
    lock.release(&key).await.unwrap();
    assert_eq!(stored(&client, &key).await, None);
    assert_eq!(lock.claim(&key).await.unwrap(), Claim::Acquired);

    // Releasing what is not claimed is not an error: a failure path may run after an expiry.
    lock.release(&LockKey::new(WORKER, DIGEST)).await.unwrap();
}

#[tokio::test]
async fn expired_claims_count_as_absent_before_the_ttl_sweeper_deletes_them() {
    let (_moto, lock, client) = lock_in_moto().await;
    let now = Utc::now().timestamp();
    let crashed = LockKey::new(WEB, DIGEST);
    let deployed_long_ago = LockKey::new(WEB, OTHER_DIGEST);
    let running = LockKey::new(WORKER, DIGEST);
    put_claim(&client, &crashed, "in-progress", now - 1).await;
    put_claim(&client, &deployed_long_ago, "done", now - 3600).await;
    put_claim(&client, &running, "in-progress", now + 60).await;

    assert_eq!(lock.claim(&crashed).await.unwrap(), Claim::Acquired);
    assert_eq!(lock.claim(&deployed_long_ago).await.unwrap(), Claim::Acquired);
    assert_eq!(lock.claim(&running).await.unwrap(), Claim::Held(ClaimState::InProgress));

    let renewed = stored(&client, &crashed).await.expect("the new claim is stored");
    assert!(
        expiry(&renewed) >= now + IN_PROGRESS_TTL.as_secs() as i64,
        "{renewed:?}"
    );
}

#[tokio::test]
async fn services_and_digests_are_locked_independently() {
    let (_moto, lock, _client) = lock_in_moto().await;
    let web = LockKey::new(WEB, DIGEST);
    let web_other_digest = LockKey::new(WEB, OTHER_DIGEST);
    let worker = LockKey::new(WORKER, DIGEST);

    for key in [&web, &web_other_digest, &worker] {
        assert_eq!(lock.claim(key).await.unwrap(), Claim::Acquired, "{key:?}");
    }
    lock.complete(&web).await.unwrap();
    lock.release(&web_other_digest).await.unwrap();

    assert_eq!(lock.claim(&web).await.unwrap(), Claim::Held(ClaimState::Done));
    assert_eq!(lock.claim(&web_other_digest).await.unwrap(), Claim::Acquired);
    assert_eq!(lock.claim(&worker).await.unwrap(), Claim::Held(ClaimState::InProgress));
}

#[tokio::test]
async fn a_missing_table_is_an_error_naming_it() {
    let moto = Moto::start_serial();
    let lock = DynamoDbLock::new(moto.function_dynamodb_client(), "no-such-table");
    let key = LockKey::new(WEB, DIGEST);

    let claim = lock.claim(&key).await.unwrap_err();
    assert_eq!(claim.operation, "PutItem");
    assert!(claim.message.contains(&format!("claim of `{}`", key.id())), "{claim}");
    assert!(claim.source.is_some());
    let message = claim.to_string();
    assert!(
        message.starts_with(&format!(
            "dynamodb PutItem failed: claim of `{}` on table `no-such-table`",
            key.id()
        )),
        "{message}"
    );
    let code = claim.answer().map(|a| a.code.as_str());
    assert_eq!(code, Some("ResourceNotFoundException"), "{claim:?}");

    let complete = render(&lock.complete(&key).await.unwrap_err());
    assert!(
        complete.starts_with("dynamodb UpdateItem failed: complete of ")
            && complete.contains("on table `no-such-table`: ResourceNotFoundException"),
        "{complete}"
    );
    let release = render(&lock.release(&key).await.unwrap_err());
    assert!(
        release.starts_with("dynamodb DeleteItem failed: release of ")
            && release.contains("on table `no-such-table`: ResourceNotFoundException"),
        "{release}"
    );
}

#[tokio::test]
async fn an_unreadable_claim_is_an_error_not_a_deployment() {
    let (_moto, lock, client) = lock_in_moto().await;
    let key = LockKey::new(WEB, DIGEST);
    put_claim(&client, &key, "paused", Utc::now().timestamp() + 60).await;

    let error = lock.claim(&key).await.unwrap_err();
    assert_eq!(
        error.to_string(),
        format!(
            "dynamodb PutItem failed: claim of `{}` on table `{TABLE}`: the live claim has an unknown state `paused`",
            key.id()
        )
    );
}

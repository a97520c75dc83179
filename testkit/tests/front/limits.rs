//! Request limits and paging, which moto does not enforce.

use ecs_redeploy_testkit::front::{Front, FrontConfig, Limits, NOT_AN_ECS_CALL};
use ecs_redeploy_testkit::harness::Harness;
use serde_json::{Value, json};

use super::{ECS_TARGET_PREFIX, Ecs, limits_only, seed_services};

/// Follows `nextToken` to the end; returns the page sizes and every ARN in order.
async fn all_pages(front: &Ecs, action: &str, request: Value, key: &str) -> (Vec<usize>, Vec<String>) {
    let (mut sizes, mut arns, mut request) = (Vec::new(), Vec::new(), request);
    for _ in 0..100 {
        let page = front.call(action, request.clone()).await;
        assert_eq!(page.status, 200, "{}", page.body);
        let page_arns = page.strings(key);
        sizes.push(page_arns.len());
        arns.extend(page_arns);
        match page.next_token() {
            Some(token) => request["nextToken"] = json!(token),
            None => return (sizes, arns),
        }
    }
    panic!("{action} never stopped paging");
}

#[tokio::test]
async fn list_services_pages_through_every_service_in_moto_order() {
    let Harness { moto, front } = Harness::start_with(limits_only()).await;
    let all = seed_services(&Ecs::at(&moto.endpoint), "paging", 25).await;
    assert_eq!(all.len(), 25, "moto ignores paging and returns everything");
    let ecs = Ecs::at(&front.endpoint_url());

    let request = json!({"cluster": "paging", "maxResults": 10});
    let (sizes, arns) = all_pages(&ecs, "ListServices", request, "serviceArns").await;
    assert_eq!(sizes, [10, 10, 5]);
    assert_eq!(arns, all);

    let unsized_page = ecs.call("ListServices", json!({"cluster": "paging"})).await;
    assert_eq!(unsized_page.strings("serviceArns"), all[..10]);
    assert!(
        unsized_page.next_token().is_some(),
        "10 per page when maxResults is absent"
    );
}

#[tokio::test]
async fn list_clusters_pages_with_max_results_and_defaults_to_one_hundred() {
    let Harness { moto, front } = Harness::start_with(limits_only()).await;
    let upstream = Ecs::at(&moto.endpoint);
    for index in 0..25 {
        let created = upstream
            .call("CreateCluster", json!({"clusterName": format!("c{index:02}")}))
            .await;
        assert_eq!(created.status, 200);
    }
    let all = upstream.call("ListClusters", json!({})).await.strings("clusterArns");
    let ecs = Ecs::at(&front.endpoint_url());

    let (sizes, arns) = all_pages(&ecs, "ListClusters", json!({"maxResults": 7}), "clusterArns").await;
    assert_eq!(sizes, [7, 7, 7, 4]);
    assert_eq!(arns, all);
    let (sizes, _) = all_pages(&ecs, "ListClusters", json!({}), "clusterArns").await;
    assert_eq!(sizes, [25]);
}

#[tokio::test]
async fn max_results_outside_one_to_one_hundred_is_refused_before_moto() {
    let Harness { moto, front } = Harness::start_with(limits_only()).await;
    seed_services(&Ecs::at(&moto.endpoint), "bounds", 2).await;
    let ecs = Ecs::at(&front.endpoint_url());

    for (max_results, expected) in [
        (json!(0), "InvalidParameterException"),
        (json!(101), "InvalidParameterException"),
        (json!(-3), "InvalidParameterException"),
        (json!("ten"), "SerializationException"),
        (json!(2.5), "SerializationException"),
    ] {
        for (action, request) in [
            ("ListServices", json!({"cluster": "bounds", "maxResults": max_results})),
            ("ListClusters", json!({"maxResults": max_results})),
        ] {
            let answer = ecs.call(action, request).await;
            assert_eq!(
                (answer.status, answer.error_code()),
                (400, expected),
                "{action} {max_results}"
            );
            assert!(answer.body["message"].as_str().is_some_and(|text| !text.is_empty()));
        }
    }
    for max_results in [1, 100] {
        let answer = ecs
            .call("ListServices", json!({"cluster": "bounds", "maxResults": max_results}))
            .await;
        assert_eq!(answer.status, 200);
    }
    let calls = front.calls();
    assert_eq!(calls.action("ListServices").rejected, 5);
    assert_eq!(calls.action("ListServices").forwarded, 2);
    assert_eq!(calls.action("ListClusters").forwarded, 0);
}

#[tokio::test]
async fn a_next_token_the_front_did_not_issue_for_this_request_is_refused() {
    let Harness { moto, front } = Harness::start_with(limits_only()).await;
    let upstream = Ecs::at(&moto.endpoint);
    seed_services(&upstream, "alpha", 3).await;
    seed_services(&upstream, "beta", 3).await;
    let ecs = Ecs::at(&front.endpoint_url());

    let first = ecs
        .call("ListServices", json!({"cluster": "alpha", "maxResults": 1}))
        .await;
    let token = first.next_token().expect("more pages");
    for request in [
        json!({"cluster": "alpha", "nextToken": "garbage"}),
        json!({"cluster": "alpha", "nextToken": ""}),
        json!({"cluster": "beta", "maxResults": 1, "nextToken": token}),
    ] {
        let answer = ecs.call("ListServices", request.clone()).await;
        assert_eq!(
            (answer.status, answer.error_code()),
            (400, "InvalidParameterException"),
            "{request}"
        );
    }
    let listed = ecs.call("ListClusters", json!({"nextToken": token})).await;
    assert_eq!(listed.error_code(), "InvalidParameterException");
    let second = ecs
        .call(
            "ListServices",
            json!({"cluster": "alpha", "maxResults": 1, "nextToken": token}),
        )
        .await;
    assert_eq!(second.status, 200);
    assert_ne!(second.strings("serviceArns"), first.strings("serviceArns"));
}

#[tokio::test]
async fn describe_services_takes_at_most_ten_services_when_limits_are_enforced() {
    let Harness { moto, front: strict } = Harness::start_with(limits_only()).await;
    let arns = seed_services(&Ecs::at(&moto.endpoint), "describe", 11).await;
    let ecs = Ecs::at(&strict.endpoint_url());

    let eleven = ecs
        .call("DescribeServices", json!({"cluster": "describe", "services": arns}))
        .await;
    assert_eq!((eleven.status, eleven.error_code()), (400, "InvalidParameterException"));
    let ten = ecs
        .call(
            "DescribeServices",
            json!({"cluster": "describe", "services": arns[..10]}),
        )
        .await;
    assert_eq!(ten.status, 200);
    assert_eq!(ten.body["services"].as_array().map(Vec::len), Some(10));
    assert_eq!(strict.calls().action("DescribeServices").forwarded, 1);

    let lax_config = FrontConfig {
        limits: Limits::Off,
        ..limits_only()
    };
    let lax = Front::start(&moto.endpoint, lax_config).await.expect("front starts");
    let through = Ecs::at(&lax.endpoint_url())
        .call("DescribeServices", json!({"cluster": "describe", "services": arns}))
        .await;
    assert_eq!(
        through.body["services"].as_array().map(Vec::len),
        Some(11),
        "moto has no limit"
    );
}

#[tokio::test]
async fn bad_requests_are_refused_without_panicking() {
    let Harness { moto: _moto, front } = Harness::start_with(FrontConfig::strict()).await;
    let ecs = Ecs::at(&front.endpoint_url());
    let list_clusters = format!("{ECS_TARGET_PREFIX}ListClusters");
    for body in ["not json", "[1, 2]", ""] {
        let answer = ecs.send(&list_clusters, body).await.expect("answered");
        assert_eq!(
            (answer.status, answer.error_code()),
            (400, "SerializationException"),
            "{body:?}"
        );
    }
    for target in ["DynamoDB_20120810.ListTables", ECS_TARGET_PREFIX] {
        let answer = ecs.send(target, "{}").await.expect("answered");
        assert_eq!((answer.status, answer.error_code()), (400, "UnknownOperationException"));
    }
    let calls = front.calls();
    assert_eq!(calls.action("ListClusters").rejected, 3);
    assert_eq!(calls.action(NOT_AN_ECS_CALL).rejected, 2);
}

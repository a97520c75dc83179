//! The rollback rules of the service history.

use super::*;

fn seen() -> SeenService {
    SeenService {
        key: ServiceKey {
            cluster: "c".to_owned(),
            service: "s".to_owned(),
        },
        arn: "arn:aws:ecs:us-east-1:123456789012:service/c/s".to_owned(),
        cluster_arn: "arn:aws:ecs:us-east-1:123456789012:cluster/c".to_owned(),
        desired_count: 1,
        launch_type: None,
    }
}

fn images(arn: &str) -> TaskDefinitionImages {
    TaskDefinitionImages {
        arn: arn.to_owned(),
        containers: vec![("c0".to_owned(), "app:latest".to_owned())],
        unresolved: Vec::new(),
    }
}

fn current_arns(history: &ServiceHistory, now: f64) -> Vec<String> {
    let (_, revisions) = history.current_fields(&seen(), now).expect("a record");
    let revisions = revisions.as_array().expect("a list").iter();
    revisions.map(|r| r["arn"].as_str().expect("arn").to_owned()).collect()
}

#[test]
fn a_rollback_returns_to_the_last_completed_revision_past_rolled_back_and_unfinished_ones() {
    let history = ServiceHistory::new(Duration::from_secs(10));
    let service = seen().arn;
    history.record_initial(seen(), images("td:1"), 0.0, 0.0);
    history.record_deployment(seen(), images("td:2"), 100.0, 100.0);
    history.record_deployment(seen(), images("td:3"), 200.0, 200.0);
    let revision_arn = |id: u64| format!("arn:aws:ecs:us-east-1:123456789012:service-revision/c/s/{id}");
    assert_eq!(
        current_arns(&history, 205.0),
        [revision_arn(5), revision_arn(3)],
        "td:3 converging"
    );
    history.roll_back(&service, 205.0).expect("rolled back");
    assert_eq!(
        current_arns(&history, 205.0),
        [revision_arn(3)],
        "td:2 completed at 110"
    );
    assert!(history.roll_back(&service, 206.0).is_err(), "rolled back already");

    history.record_deployment(seen(), images("td:4"), 300.0, 300.0);
    history.record_deployment(seen(), images("td:5"), 302.0, 302.0);
    history.roll_back(&service, 305.0).expect("rolled back");
    assert_eq!(
        current_arns(&history, 305.0),
        [revision_arn(3)],
        "td:4 never completed, td:3 was rolled back to td:2"
    );
}

#[test]
fn a_service_without_a_completed_revision_cannot_roll_back() {
    let history = ServiceHistory::new(Duration::from_secs(10));
    history.record_initial(seen(), images("td:1"), 0.0, 0.0);
    assert!(
        history.roll_back(&seen().arn, 5.0).is_err(),
        "the creation's deployment completed"
    );
    let history = ServiceHistory::new(Duration::from_secs(10));
    history.record_deployment(seen(), images("td:1"), 100.0, 100.0);
    assert!(
        history.roll_back(&seen().arn, 105.0).is_err(),
        "the creation's deployment in progress"
    );
    assert!(
        history
            .roll_back("arn:aws:ecs:us-east-1:123456789012:service/c/other", 105.0)
            .is_err()
    );
}

//! SQS events as Lambda's event source mapping delivers them, for tests of queued delivery.

use serde_json::{Value, json};

/// An SQS event whose messages `m-0`, `m-1`, … carry `bodies` as text.
pub fn batch(bodies: &[String]) -> Value {
    let records: Vec<Value> = bodies
        .iter()
        .enumerate()
        .map(|(i, body)| {
            json!({
                "messageId": format!("m-{i}"), "receiptHandle": "r", "body": body, "attributes": {},
                "messageAttributes": {}, "md5OfBody": "", "eventSource": "aws:sqs",
                "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:ecs-redeploy-events", "awsRegion": "us-east-1"
            })
        })
        .collect();
    json!({ "Records": records })
}

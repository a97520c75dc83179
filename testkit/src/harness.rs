//! moto behind the strict ECS front: tests seed and inspect moto directly (no throttling of the
//! set-up), while the code under test talks to the front, which pages, limits and throttles like ECS.

use aws_sdk_ecs::config::retry::RetryConfig;
use aws_sdk_ecs::config::timeout::TimeoutConfig;

use crate::front::{Front, FrontConfig};
use crate::moto::{Moto, ecs_client_with, function_ecs_client_for};

pub struct Harness {
    pub moto: Moto,
    pub front: Front,
}

impl Harness {
    pub async fn start() -> Harness {
        Harness::in_front_of(Moto::start(), FrontConfig::strict()).await
    }

    /// In front of moto with a front configured by the test (latency, faults).
    pub async fn start_with(front: FrontConfig) -> Harness {
        Harness::in_front_of(Moto::start(), front).await
    }

    /// Behind a moto that answers one request at a time: DynamoDB conditional writes are atomic there.
    pub async fn start_serial() -> Harness {
        Harness::in_front_of(Moto::start_serial(), FrontConfig::strict()).await
    }

    async fn in_front_of(moto: Moto, front: FrontConfig) -> Harness {
        let front = Front::start(&moto.endpoint, front)
            .await
            .expect("the strict front starts");
        Harness { moto, front }
    }

    /// Straight to moto: for seeding and for reading back state.
    pub fn seeder(&self) -> aws_sdk_ecs::Client {
        self.moto.ecs_client()
    }

    /// Through the front: what the code under test uses.
    pub fn function_client(&self) -> aws_sdk_ecs::Client {
        function_ecs_client_for(&self.front.endpoint_url())
    }

    /// The same, with the function's retry and timeout settings.
    pub fn function_client_with(&self, retry: RetryConfig, timeout: TimeoutConfig) -> aws_sdk_ecs::Client {
        ecs_client_with(&self.front.endpoint_url(), retry, timeout)
    }
}

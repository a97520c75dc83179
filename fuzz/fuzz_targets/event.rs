//! `classify_json` on any UTF-8 text: it may reject it, never panic, and a push it accepts is a valid image.
#![no_main]

use ecs_redeploy::trigger::eventbridge::{Classified, classify_json};
use ecs_redeploy::domain::image::ImageRef;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|text: &str| {
    if let Ok(Classified::Push(push)) = classify_json(text) {
        let image = push.image();
        assert_eq!(ImageRef::parse(&image.to_string()), Ok(image));
    }
});

//! `ImageRef::parse` on any UTF-8 text: it may reject it, never panic, and what it accepts displays as a
//! reference that parses back to the same value.
#![no_main]

use ecs_redeploy::domain::image::ImageRef;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|text: &str| {
    if let Ok(image) = ImageRef::parse(text) {
        assert_eq!(ImageRef::parse(&image.to_string()), Ok(image));
    }
});

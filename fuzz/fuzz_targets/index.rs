#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        if let Ok(names) = emergent_engine::index_shards(text) {
            // Every name stays beside the index.
            assert!(names.iter().all(|n| !n.contains('/') && n != ".." && !n.is_empty()));
        }
    }
});

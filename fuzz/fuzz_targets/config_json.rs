#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let path = emergent_fuzz::scratch("config.json", data);
    let _ = emergent_engine::ModelConfig::from_hf_json(&path);
});

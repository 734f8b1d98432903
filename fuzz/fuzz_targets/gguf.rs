#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let path = emergent_fuzz::scratch("model.gguf", data);
    let _ = emergent_engine::load_gguf(&path);
});

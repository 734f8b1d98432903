#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let path = emergent_fuzz::scratch("tokenizer.json", data);
    if let Ok(t) = emergent_data::Tokenizer::load(&path) {
        let ids = t.encode("a fuzzed tokenizer encodes this");
        let _ = t.decode(&ids);
    }
});

#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let path = emergent_fuzz::scratch("tokens.bin", data);
    if let Ok(s) = emergent_data::Shard::open(&path) {
        let _ = s.len();
    }
});

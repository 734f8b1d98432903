#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let path = emergent_fuzz::scratch("results.json", data);
    let _ = emergent_analysis::read_lmeval(&path);
});

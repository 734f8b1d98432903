#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let path = emergent_fuzz::scratch("task.toml", data);
    let _ = emergent_eval::load_task(&path);
});

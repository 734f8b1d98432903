#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    // The reader takes the step from the file name and the size from its folder, as
    // in a suite's per-checkpoint results; any other name is refused before parsing.
    let path = emergent_fuzz::scratch("pythia-160m/step143000.json", data);
    let _ = emergent_analysis::read_lmeval(&path);
});

#![no_main]
use libfuzzer_sys::fuzz_target;

// An lm-eval task config with a data file beside it: YAML parsing, the translation
// into a spec, the templates and the documents.
fuzz_target!(|data: &[u8]| {
    let path = emergent_fuzz::scratch("task.yaml", data);
    if let Some(dir) = path.parent() {
        let docs = "{\"q\": \"Where?\", \"options\": [\"a\", \"b\"], \"answer\": 1, \"text\": \"x y\"}\n";
        let _ = std::fs::write(dir.join("d.jsonl"), docs);
    }
    let _ = emergent_eval::load_task(&path);
});

//! Comparison of emergent's per-document records with lm-evaluation-harness's logged
//! samples (`--log_samples`), shared by the golden tests.

use emergent_eval::SampleRecord;
use serde_json::Value;

/// Checks one lm-eval sample against our record: the same prompt; for generation the
/// same output and filtered answer; otherwise each request's continuation, greedy flag
/// and log-likelihood (within 1e-4). Returns the largest log-likelihood difference.
pub fn check_sample(name: &str, s: &Value, r: &SampleRecord) -> f64 {
    let args = s["arguments"].as_array().unwrap();
    assert_eq!(
        args[0][0].as_str().unwrap(),
        r.contexts[0],
        "{name}: prompt of doc {}",
        r.doc_id
    );
    if let Some(gen) = r.prediction.as_str() {
        assert_eq!(
            gen,
            s["resps"][0][0].as_str().unwrap(),
            "{name}: generation of doc {}",
            r.doc_id
        );
        let filter = s["filter"].as_str().unwrap();
        // With one filter our record keys it by its name; lm-eval's may say `none`.
        let key = if r.filtered.len() == 1 {
            r.filtered.keys().next().unwrap().as_str()
        } else {
            filter
        };
        assert_eq!(
            r.filtered[key],
            s["filtered_resps"][0].as_str().unwrap(),
            "{name}: {filter} of doc {}",
            r.doc_id
        );
        return 0.0;
    }
    let mut worst = 0f64;
    for (i, resp) in s["resps"].as_array().unwrap().iter().enumerate() {
        let (ll, greedy) = (resp[0][0].as_f64().unwrap(), resp[0][1].as_bool().unwrap());
        let diff = (r.loglikelihoods[i] - ll).abs();
        worst = worst.max(diff);
        assert!(
            diff < 1e-4,
            "{name} doc {} request {i}: {} vs {ll}",
            r.doc_id,
            r.loglikelihoods[i]
        );
        assert_eq!(
            r.is_greedy[i], greedy,
            "{name} doc {} request {i}",
            r.doc_id
        );
        assert_eq!(
            args[i][1].as_str().unwrap(),
            r.continuations[i],
            "{name} doc {}",
            r.doc_id
        );
    }
    worst
}

//! `emergent analyze` on imported results: a CSV with a known threshold, a smooth task,
//! a task with one checkpoint and bad rows → findings.json, tables and a report with
//! SVG and PNG figures; a CSV without a required column is an error naming it.

use std::fmt::Write;
use std::path::Path;
use std::process::Command;

use serde_json::Value;

fn emergent(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_emergent"))
        .args(args)
        .output()
        .unwrap()
}

/// A fixed stream of standard normal draws (sum of 12 uniforms from an LCG, minus 6).
struct Noise(u64);

impl Noise {
    fn uniform(&mut self) -> f64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (self.0 >> 11) as f64 / (1u64 << 53) as f64
    }
    fn normal(&mut self) -> f64 {
        (0..12).map(|_| self.uniform()).sum::<f64>() - 6.0
    }
}

const ETA: f64 = 2.55;
/// Where the hinge (0.5 per unit of loss below ETA) leaves the band 0.25 ± 0.05: the
/// onset the verdict reports.
const ONSET: f64 = ETA - 0.05 / 0.5;
const DOCS: f64 = 2000.0;

/// Four sizes × eight checkpoints whose loss follows a scaling law; an emergent task
/// (random until loss 2.55, which three of the four runs pass), a smooth one, one evaluated once, and three bad rows.
fn write_csv(path: &Path) -> (usize, usize, usize) {
    let mut rng = Noise(42);
    let mut s = String::from("run,params,tokens,loss,task,metric,value,n,baseline,step\n");
    for (i, n) in [2e6f64, 6e6, 2e7, 6e7].into_iter().enumerate() {
        for k in 0..8 {
            let d = 2e7 * 2f64.powi(k);
            let loss = 1.7 + 100.0 / n.powf(0.34) + 100.0 / d.powf(0.28);
            let sd = |p: f64| (p.clamp(0.0, 1.0) * (1.0 - p.clamp(0.0, 1.0)) / DOCS).sqrt();
            let emergent = 0.25 + 0.5 * (ETA - loss).max(0.0);
            let smooth = 0.25 + 0.15 * (4.5 - loss);
            let run = format!("m{i}");
            for (task, p) in [("emergent_task", emergent), ("smooth_task", smooth)] {
                let v = (p + sd(p) * rng.normal()).clamp(0.0, 1.0);
                let _ = writeln!(s, "{run},{n},{d},{loss},{task},acc,{v},{DOCS},0.25,{k}");
            }
        }
    }
    s.push_str("m0,2e6,1e9,2.0,once_task,acc,0.3,100,0.25,99\n");
    let header_and_good = s.lines().count();
    s.push_str("m0,2e6,1e9,2.0,smooth_task,acc,abc,100,0.25,100\n");
    let bad_value = header_and_good + 1;
    s.push_str("m0,2e6,1e9,NaN,smooth_task,acc,0.3,100,0.25,101\n");
    let nan_loss = bad_value + 1;
    s.push_str("m0,2e6,1e9,-1.5,smooth_task,acc,0.3,100,0.25,102\n");
    std::fs::write(path, s).unwrap();
    (bad_value, nan_loss, nan_loss + 1)
}

fn task<'a>(f: &'a Value, name: &str) -> &'a Value {
    f["tasks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["task"] == name)
        .unwrap_or_else(|| panic!("no {name} in findings"))
}

#[test]
fn a_csv_with_a_known_threshold_gives_findings_tables_and_a_report() {
    let dir = tempfile::tempdir().unwrap();
    let csv = dir.path().join("results.csv");
    let (bad_value, nan_loss, negative_loss) = write_csv(&csv);
    let out = dir.path().join("analysis");
    let o = emergent(&[
        "analyze",
        "--results",
        csv.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
        "--bootstrap",
        "100",
    ]);
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success(), "{stderr}");
    let at = |line: usize| format!("{}:{line}", csv.display());
    assert!(
        stderr.contains(&format!(
            "{}: column `value`: `abc` is not a finite number",
            at(bad_value)
        )),
        "{stderr}"
    );
    assert!(
        stderr.contains(&format!("{}: column `loss`", at(nan_loss))),
        "{stderr}"
    );
    assert!(
        stderr.contains(&format!("{}: column `loss`", at(negative_loss))),
        "{stderr}"
    );

    let f: Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("findings.json")).unwrap()).unwrap();
    assert_eq!(f["schema_version"], 4);
    assert_eq!(
        f["rejected"].as_array().unwrap().len(),
        3,
        "{}",
        f["rejected"]
    );
    let e = task(&f, "emergent_task");
    assert_eq!(e["kind"], "emergent", "{e}");
    let (lo, hi) = (e["ci"][0].as_f64().unwrap(), e["ci"][1].as_f64().unwrap());
    let eta = e["threshold"].as_f64().unwrap();
    assert!(
        lo <= eta && eta <= hi && lo <= ONSET && ONSET <= hi,
        "η {eta} in [{lo}, {hi}], truth {ONSET}"
    );
    assert!(
        hi - lo < 0.3,
        "a tight interval with 2,000 documents a point: [{lo}, {hi}]"
    );
    assert_eq!(e["baseline"], 0.25);
    assert_eq!(e["n_points"], 32);
    assert!(e["r2_loss"].as_f64().unwrap() > 0.9);
    assert!(e["r2_loss_size"].as_f64().unwrap() - e["r2_loss"].as_f64().unwrap() < 0.05);
    assert!(
        e["threshold_params"].as_f64().is_some_and(|p| p > 0.0),
        "{}",
        f["scaling_points"]
    );
    assert_eq!(task(&f, "smooth_task")["kind"], "smooth");
    assert_eq!(task(&f, "once_task")["kind"], "insufficient");
    // The largest size forecast from the three smaller: by the break for the emergent
    // task, a smooth shape for the smooth one, within a few points of the truth.
    for (name, model) in [("emergent_task", "break"), ("smooth_task", "")] {
        let fc = &task(&f, name)["forecast"];
        assert_eq!(fc["held_out"], serde_json::json!(["m3"]), "{fc}");
        if !model.is_empty() {
            assert_eq!(fc["model"], model);
        }
        assert_eq!(fc["points"].as_array().unwrap().len(), 8, "{fc}");
        assert!(fc["mae"].as_f64().unwrap() < 0.03, "{name}: {fc}");
        assert!(fc["coverage"].as_f64().unwrap() >= 0.75, "{name}: {fc}");
        let p = &fc["points"][0];
        assert!(
            p["lo"].as_f64() <= p["predicted"].as_f64()
                && p["predicted"].as_f64() <= p["hi"].as_f64()
        );
    }
    let law = &f["scaling"];
    assert!(
        (law["alpha"].as_f64().unwrap() - 0.34).abs() < 0.05,
        "{law}"
    );
    assert!((law["e"].as_f64().unwrap() - 1.7).abs() < 0.1, "{law}");

    let report = out.join("report");
    let html = std::fs::read_to_string(report.join("index.html")).unwrap();
    assert!(html.contains("emergent_task") && html.contains("Scaling law"));
    for stem in [
        "emergent_task-0shot-acc",
        "emergent_task-0shot-acc-forecast",
        "smooth_task-0shot-acc-tokens",
        "loss_curves",
        "scaling_law",
    ] {
        let svg = std::fs::read_to_string(report.join(format!("figures/{stem}.svg"))).unwrap();
        assert!(
            svg.starts_with("<svg") && svg.contains("<text"),
            "{stem}.svg"
        );
        let png = std::fs::read(report.join(format!("figures/{stem}.png"))).unwrap();
        assert!(
            png.starts_with(b"\x89PNG\r\n\x1a\n") && png.len() > 5000,
            "{stem}.png"
        );
    }
    page_holds_together(&report, &html);
    let png = std::fs::read(report.join("figures/emergent_task-0shot-acc.png")).unwrap();
    let png_width = u32::from_be_bytes(png[16..20].try_into().unwrap());
    let svg = std::fs::read_to_string(report.join("figures/emergent_task-0shot-acc.svg")).unwrap();
    assert!(
        svg.contains(&format!("width=\"{}\"", png_width / 2)),
        "the PNG is twice the SVG"
    );
    assert!(html.contains("id=\"overview\"") && html.contains("η = "));
    assert_eq!(
        html.contains("class=\"banner\""),
        !f["limits"].as_array().unwrap().is_empty(),
        "the banner shows the findings' limits: {}",
        f["limits"]
    );
    in_a_browser(&report);
    let table = std::fs::read_to_string(report.join("tables/thresholds.csv")).unwrap();
    assert!(table
        .lines()
        .any(|l| l.starts_with("emergent_task,0,acc,emergent,")));
    let points = std::fs::read_to_string(report.join("tables/points.csv")).unwrap();
    assert_eq!(points.lines().count(), 1 + 65);
}

/// Every in-page link has its target, every image, file link and hover file exists.
fn page_holds_together(report: &std::path::Path, html: &str) {
    let values = |attr: &str| -> Vec<String> {
        html.split(attr)
            .skip(1)
            .map(|rest| rest[..rest.find('"').unwrap()].to_string())
            .collect()
    };
    for target in values("href=\"#") {
        assert!(
            html.contains(&format!("id=\"{target}\"")),
            "dead link #{target}"
        );
    }
    for file in values("src=\"").into_iter().chain(values("href=\"")) {
        if file.starts_with('#') || file.contains(':') {
            continue;
        }
        assert!(report.join(&file).exists(), "missing {file}");
    }
    let hot = values("data-hot=\"");
    assert!(!hot.is_empty(), "no figure has hover texts");
    for stem in hot {
        let js = std::fs::read_to_string(report.join(format!("figures/{stem}.hot.js"))).unwrap();
        assert!(
            js.starts_with("emergentHot(") && js.contains("tokens"),
            "{stem}"
        );
    }
}

/// The page in headless Chromium (scripts/check_report.sh): every figure decodes,
/// the hover texts load and no link is dead. Skipped, saying so, without Chromium.
fn in_a_browser(report: &std::path::Path) {
    let has = |b: &str| {
        Command::new("sh")
            .args(["-c", &format!("command -v {b}")])
            .output()
            .is_ok_and(|o| o.status.success())
    };
    if !["chromium", "chromium-browser", "google-chrome"]
        .iter()
        .any(|b| has(b))
    {
        eprintln!("skipping the browser check: no chromium (apt-get install chromium)");
        return;
    }
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/../../scripts/check_report.sh");
    let o = Command::new("bash")
        .arg(script)
        .arg(report.join("index.html"))
        .output()
        .unwrap();
    assert!(
        o.status.success(),
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(report.join("report.png").exists());
}

#[test]
fn a_csv_without_a_required_column_is_an_error_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let csv = dir.path().join("r.csv");
    std::fs::write(
        &csv,
        "run,params,tokens,task,metric,value\nm,1e6,1e9,t,acc,0.3\n",
    )
    .unwrap();
    let o = emergent(&[
        "analyze",
        "--results",
        csv.to_str().unwrap(),
        "--out",
        dir.path().to_str().unwrap(),
    ]);
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert!(!o.status.success());
    assert!(
        stderr.contains("r.csv:1: missing required column loss"),
        "{stderr}"
    );
    assert!(!stderr.contains("panicked"), "{stderr}");
}

#[test]
fn results_without_loss_ask_for_another_axis() {
    let dir = tempfile::tempdir().unwrap();
    let json = dir.path().join("pythia-70m/70m_step1000.json");
    std::fs::create_dir_all(json.parent().unwrap()).unwrap();
    std::fs::write(
        &json,
        r#"{"results": {"piqa": {"acc": 0.6, "acc_stderr": 0.01}}, "config": {"num_fewshot": 0}}"#,
    )
    .unwrap();
    let o = emergent(&[
        "analyze",
        "--results",
        json.to_str().unwrap(),
        "--out",
        dir.path().to_str().unwrap(),
    ]);
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert!(!o.status.success());
    assert!(stderr.contains("--x tokens"), "{stderr}");
    let o = emergent(&[
        "analyze",
        "--results",
        json.to_str().unwrap(),
        "--x",
        "tokens",
        "--out",
        dir.path().to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let f: Value =
        serde_json::from_str(&std::fs::read_to_string(dir.path().join("findings.json")).unwrap())
            .unwrap();
    let piqa = task(&f, "piqa");
    assert_eq!(piqa["kind"], "insufficient");
    assert_eq!(piqa["baseline"], 0.5);
}

#[test]
fn an_axis_the_results_do_not_hold_is_an_error_naming_what_they_hold() {
    let dir = tempfile::tempdir().unwrap();
    let csv = dir.path().join("r.csv");
    write_csv(&csv);
    for (axis, says) in [
        ("foo:bar", "no task `foo`"),
        ("smooth_task:bar", "has no metric `bar` (it has acc)"),
        ("loss:web", "no validation loss for domain `web`"),
    ] {
        let o = emergent(&[
            "analyze",
            "--results",
            csv.to_str().unwrap(),
            "--x",
            axis,
            "--bootstrap",
            "5",
            "--out",
            dir.path().to_str().unwrap(),
        ]);
        let stderr = String::from_utf8_lossy(&o.stderr);
        assert!(!o.status.success(), "{axis}: {stderr}");
        assert!(stderr.contains(says), "{axis}: {stderr}");
        assert!(!stderr.contains("panicked"), "{stderr}");
    }
}

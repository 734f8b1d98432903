//! The findings on the terminal: each series' verdict in a table, the claims one line
//! each. Printed when an analysis ends, by `analyze` and by a study's progress.

use crate::term;
use emergent_analysis::claims::Claims;
use emergent_analysis::{Findings, Kind};

/// Series beyond which the summary lists each task's main metric only.
const LIST_ALL_UP_TO: usize = 60;

pub(crate) fn print_summary(f: &Findings) {
    let mains = emergent_analysis::claims::main_findings(&f.tasks);
    let rows: Vec<&emergent_analysis::TaskFinding> = if f.tasks.len() <= LIST_ALL_UP_TO {
        f.tasks.iter().collect()
    } else {
        mains.clone()
    };
    println!(
        "{:<20} {:>2} {:<18} {:<10} {:>7} {:>17} {:>6} {:>6} {:>6} {:>12}",
        "task",
        "k",
        "metric",
        "verdict",
        "η",
        "95% interval",
        "stable",
        "R² x",
        "R² +N",
        "forecast"
    );
    let num = |v: Option<f64>| v.map_or("–".to_string(), |v| format!("{v:.3}"));
    for t in &rows {
        // An uncertain series' onset and interval, queried.
        let (eta, ci, q) = match t.kind {
            Kind::Uncertain => (t.onset, t.onset_ci, "?"),
            _ => (t.threshold, t.ci, ""),
        };
        let ci = ci.map_or("–".to_string(), |[a, b]| format!("[{a:.3}, {b:.3}]"));
        let eta = eta.map_or("–".to_string(), |v| format!("{v:.3}{q}"));
        let stable = t
            .stability
            .as_ref()
            .map_or("–".to_string(), |s| format!("{:.0}%", 100.0 * s.overall));
        let forecast = t.forecast.as_ref().map_or("–".to_string(), |f| {
            format!("{:.3} {:.0}%", f.mae, 100.0 * f.coverage)
        });
        println!(
            "{:<20} {:>2} {:<18} {:<10} {:>7} {:>17} {:>6} {:>6} {:>6} {:>12}",
            term::fit(&t.task, 20),
            t.shots,
            term::fit(&t.metric, 18),
            t.kind.name(),
            eta,
            ci,
            stable,
            num(t.r2_loss),
            num(t.r2_loss_size),
            forecast,
        );
        if t.kind == Kind::Uncertain {
            if let Some(why) = &t.reason {
                println!("{}", term::wrap("    uncertain: ", why, 6));
            }
        }
    }
    if rows.len() < f.tasks.len() {
        println!(
            "(each task's main metric; all {} series in report/tables/thresholds.csv)",
            f.tasks.len()
        );
    }
    if let Some(held) = rows.iter().find_map(|t| t.forecast.as_ref()) {
        println!(
            "{}",
            term::wrap(
                "forecast: ",
                &format!(
                    "{} predicted from every other run by each series' model: mean absolute error, and the share of its checkpoints inside the 95% interval",
                    held.held_out.join(", ")
                ),
                4
            )
        );
    }
    println!("{}", term::wrap("verdicts: ", &f.verdict_counts(), 4));
    let law = match &f.scaling {
        Some(s) => format!(
            "L(N, D) = {:.4} + {:.4e}/N^{:.4} + {:.4e}/D^{:.4} ({})",
            s.e, s.a, s.alpha, s.b, s.beta, f.scaling_points
        ),
        None => f.scaling_points.clone(),
    };
    println!("{}", term::wrap("scaling law: ", &law, 4));
    for l in &f.limits {
        println!("{}", term::wrap("too small for the claims: ", l, 4));
    }
    if let Some(c) = &f.claims {
        print_claims(c);
    }
    for p in &f.predictions {
        let when = match p.tokens_at_threshold {
            Some(d) => format!("at about {d:.3e} tokens"),
            None => format!(
                "not on its fitted loss curve (it levels off at {:.4})",
                p.curve.e
            ),
        };
        let line = format!(
            "(at {:.3e} of {} tokens, loss {:.4}) reaches {}'s threshold {:.4} {when}",
            p.tokens_so_far,
            p.token_budget.map_or("?".into(), |b| format!("{b:.3e}")),
            p.loss_now,
            p.task,
            p.threshold,
        );
        println!("{}", term::wrap(&format!("{} ", p.run), &line, 4));
    }
}

/// The paper's claims, one line each.
fn print_claims(c: &Claims) {
    println!("the paper's claims on this study:");
    for row in c.rows() {
        let verdict = if row.holds { "holds" } else { "does not hold" };
        let tasks: Vec<String> = row
            .lines
            .iter()
            .map(|(task, text)| format!("{task} {text}").trim_end().to_string())
            .collect();
        let text = format!("{verdict} ({})", tasks.join("; "));
        println!("{}", term::wrap(&format!("  {}: ", row.title), &text, 6));
    }
}

//! lm-eval YAML configs: what is read, what is refused (with the file and line), where
//! data is found, and what happens to a continuation longer than the context.

use std::path::{Path, PathBuf};

use emergent_eval::{
    evaluate, load_model, load_task_with_data, select_tasks, EvalOptions, Node, Scorer,
};

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let p = dir.join(name);
    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    std::fs::write(&p, text).unwrap();
    p
}

const DOCS: &str = "{\"q\": \"Where?\", \"options\": [\"here\", \"there\"], \"answer\": 1}\n";

const BASE: &str = "dataset_path: json\ndataset_kwargs:\n  data_files:\n    test: d.jsonl\n\
                    output_type: multiple_choice\ndoc_to_text: \"{{q}}\"\n\
                    doc_to_choice: options\ndoc_to_target: answer\n";

fn error_of(dir: &Path, yaml: &str) -> String {
    let p = write(dir, "t.yaml", yaml);
    format!("{:#}", load_task_with_data(&p, None).unwrap_err())
}

#[test]
fn code_and_sampling_are_refused_with_file_and_line() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "d.jsonl", DOCS);
    let cases = [
        (
            format!("task: t\n{BASE}process_docs: !function utils.process_docs\n"),
            "t.yaml:10: `process_docs` is `!function utils.process_docs`",
        ),
        (
            format!(
                "task: t\n{BASE}metric_list:\n  - metric: acc\n    aggregation: !function m.agg\n"
            ),
            "t.yaml:12: `aggregation` is `!function m.agg`",
        ),
        (
            format!("task: t\n{BASE}process_results: x\n"),
            "t.yaml:10: task `t`: `process_results` is a Python function",
        ),
        (
            format!("task: t\n{BASE}shots: 3\n"),
            "t.yaml:10: task `t`: `shots` is not a field",
        ),
        (
            format!("task: t\n{BASE}repeats: 4\n"),
            "`repeats` must be 1",
        ),
        (
            format!("task: t\n{BASE}metric_list:\n  - metric: acc_mutual_info\n"),
            "`acc_mutual_info` is not one emergent computes",
        ),
        (
            format!("task: t\n{BASE}metric_list:\n  - metric: acc\n    aggregation: median\n"),
            "aggregated by `median`",
        ),
        ("task: t\n: [\n".to_string(), "t.yaml:2:1: not valid YAML"),
        (
            "task: t\ninclude: missing.yaml\n".to_string(),
            "include `missing.yaml`",
        ),
    ];
    for (yaml, want) in cases {
        let e = error_of(dir.path(), &yaml);
        assert!(e.contains(want), "{e}\nlacks: {want}");
    }
    let gen = "task: g\ndataset_path: json\ndataset_kwargs:\n  data_files:\n    test: d.jsonl\n\
               output_type: generate_until\ndoc_to_text: \"{{q}}\"\ndoc_to_target: \"{{q}}\"\n";
    for (kw, want) in [
        (
            "do_sample: true",
            "generation_kwargs.do_sample is true: sampling is not supported",
        ),
        ("num_beams: 4", "beam search is not supported"),
        ("repetition_penalty: 1.3", "only 1.0 is supported"),
        (
            "typical_p: 0.9",
            "has `typical_p`, which emergent does not take",
        ),
    ] {
        let e = error_of(dir.path(), &format!("{gen}generation_kwargs:\n  {kw}\n"));
        assert!(e.contains(want), "{e}\nlacks: {want}");
    }
    // Greedy-equivalent options are taken, and lm-eval's default stop is the delimiter.
    let p = write(
        dir.path(),
        "g.yaml",
        &format!("{gen}generation_kwargs:\n  do_sample: false\n  temperature: 0\n  top_p: 1.0\n  top_k: 0\n"),
    );
    let t = load_task_with_data(&p, None).unwrap();
    assert_eq!(t.spec.generation_kwargs.until, ["\n\n"]);
    // A refused key set by an included file is named at that file.
    write(
        dir.path(),
        "base_yaml",
        &format!("{BASE}use_prompt: promptsource:x\n"),
    );
    let e = error_of(dir.path(), "include: base_yaml\ntask: t\n");
    assert!(e.contains("base_yaml:9: task `t`: `use_prompt`"), "{e}");
}

#[test]
fn includes_merge_local_keys_over_included_ones() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "d.jsonl", DOCS);
    write(
        dir.path(),
        "_t_yaml",
        &format!("{BASE}num_fewshot: 3\ndescription: base\n"),
    );
    let p = write(
        dir.path(),
        "t.yaml",
        "include: _t_yaml\ntask: t\ndescription: mine\n",
    );
    let t = load_task_with_data(&p, None).unwrap();
    assert_eq!(
        (t.spec.num_fewshot, t.spec.description.as_str()),
        (3, "mine")
    );
    assert_eq!(t.docs.len(), 1);
}

/// A Hugging Face snapshot under --data: `openai/gsm8k` found as `DIR/gsm8k/main/`, its
/// split in Parquet shards read in order.
#[test]
fn dataset_path_is_found_under_the_data_folder() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    write(
        &data,
        "gsm8k/main/test-00000-of-00002.jsonl",
        "{\"question\": \"1+1\", \"answer\": \"#### 2\"}\n",
    );
    write(
        &data,
        "gsm8k/main/test-00001-of-00002.json",
        "[{\"question\": \"2+2\", \"answer\": \"#### 4\"}]",
    );
    let yaml = "task: gsm\ndataset_path: openai/gsm8k\ndataset_name: main\noutput_type: generate_until\n\
                test_split: test\ndoc_to_text: \"Q: {{question}}\"\ndoc_to_target: \"{{answer}}\"\n";
    let p = write(dir.path(), "gsm.yaml", yaml);
    let e = format!("{:#}", load_task_with_data(&p, None).unwrap_err());
    assert!(
        e.contains("--data DIR") && e.contains("openai/gsm8k/main/test.jsonl"),
        "{e}"
    );
    let t = load_task_with_data(&p, Some(&data)).unwrap();
    let qs: Vec<&str> = t
        .docs
        .iter()
        .map(|d| d["question"].as_str().unwrap())
        .collect();
    assert_eq!(qs, ["1+1", "2+2"]);
    let e = format!(
        "{:#}",
        load_task_with_data(&p, Some(&dir.path().join("none"))).unwrap_err()
    );
    assert!(e.contains("no `test` split of `openai/gsm8k`"), "{e}");
}

#[test]
fn groups_tags_and_folders_select_their_tasks() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "d.jsonl", DOCS);
    for t in ["a", "b"] {
        write(
            dir.path(),
            &format!("{t}.yaml"),
            &format!("task: {t}\ntag: letters\n{BASE}"),
        );
    }
    write(
        dir.path(),
        "g.yaml",
        "group: g\ntask:\n  - a\n  - task: b\n    num_fewshot: 0\n    task_alias: bee\naggregate_metric_list:\n  - metric: acc\n",
    );
    let names = |n: &[Node]| -> Vec<String> {
        n.iter()
            .flat_map(Node::tasks)
            .map(|t| t.spec.task.clone())
            .collect()
    };
    let include = vec![dir.path().to_path_buf()];
    let shipped = dir.path().join("no-shipped");
    let entries: Vec<String> = ["g", "letters", "nope"].map(String::from).to_vec();
    let got = select_tasks(&entries, &include, &shipped, None);
    let g = got[0].1.as_ref().unwrap();
    assert_eq!(names(g), ["a", "b"]);
    let Node::Group(group) = &g[0] else {
        panic!("a group")
    };
    assert_eq!(group.aggregate[0].metric, "acc");
    assert_eq!(
        group.children[1].tasks()[0].spec.alias.as_deref(),
        Some("bee")
    );
    assert_eq!(names(got[1].1.as_ref().unwrap()), ["a", "b"]);
    let e = format!("{:#}", got[2].1.as_ref().unwrap_err());
    assert!(e.contains("no task, group or tag named `nope`"), "{e}");
    // A folder: its group, without the group's members listed again.
    let folder = select_tasks(&[dir.path().display().to_string()], &[], &shipped, None);
    let top: Vec<String> = folder[0]
        .1
        .as_ref()
        .unwrap()
        .iter()
        .map(|n| n.name().to_string())
        .collect();
    assert_eq!(top, ["g"]);
}

/// lm-eval asserts that a continuation fits the context; so does emergent, unless told
/// to score its last tokens, and then the record says so.
#[test]
fn a_continuation_longer_than_the_context_is_refused_or_marked() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../reference");
    let (mut model, tok) = load_model(
        &root.join("goldens/checkpoint/model"),
        emergent_engine::Backend::Cpu,
    )
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let long = "Ada lives in Lake End. ".repeat(8);
    write(
        dir.path(),
        "d.jsonl",
        &format!(
            "{{\"q\": \"Where?\", \"options\": [\"here\", \"{long}\"], \"answer\": 0}}\n{DOCS}"
        ),
    );
    let p = write(dir.path(), "t.yaml", &format!("task: t\n{BASE}"));
    let task = load_task_with_data(&p, None).unwrap();
    let mut s = Scorer {
        model: model.as_mut(),
        tokenizer: &tok,
    };
    let e = format!(
        "{:#}",
        evaluate(&mut s, &task, &EvalOptions::default(), &mut |_| {}).unwrap_err()
    );
    assert!(
        e.contains("task `t`: document 0: the continuation")
            && e.contains("longer than the model's context of 32"),
        "{e}"
    );
    let opts = EvalOptions {
        score_long_continuations: true,
        ..EvalOptions::default()
    };
    let (r, records) = evaluate(&mut s, &task, &opts, &mut |_| {}).unwrap();
    assert!(records[0].continuation_truncated && !records[1].continuation_truncated);
    assert_eq!(r.n_docs, 2);
}

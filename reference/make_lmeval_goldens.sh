#!/usr/bin/env bash
# lm-evaluation-harness and GGUF goldens (CI never runs this; it reads the goldens).
# Makes the virtual environment on first use (VENV overrides its place), then:
#  - reference/goldens/lmeval/: lm-eval 0.4.13 (hf, float32, batch 1, offline) on the
#    tiny emergent checkpoint and the tasks in reference/lmeval-tasks/;
#  - reference/goldens/benchmarks/: lm-eval's own registered tasks for the specs in tasks/,
#    on reference/benchmark-samples/ and ../shared/data/gsm8k;
#  - reference/goldens/lmeval-yaml/: lm-eval's own command line on reference/lmeval-yaml/;
#  - reference/goldens/gguf/: GGUF files of every supported type, by llama.cpp's gguf-py;
#  - reference/goldens/smollm2/: SmolLM2-135M Q4_1 through transformers' GGUF loader.
set -euo pipefail
source "$(dirname "$0")/venv.sh"
"$py" -m pip install -q "lm-eval[hf]==0.4.13" "gguf==0.19.0"
export HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1
(cd "$here/lmeval-tasks" && "$py" make_data.py)
"$py" "$here/make_lmeval_goldens.py" "$here/goldens/checkpoint/model"
(cd "$here/benchmark-samples" && "$py" make_samples.py)
"$py" "$here/make_benchmark_goldens.py" "$here/goldens/checkpoint/model"
"$here/make_lmeval_yaml_goldens.sh"
"$py" "$here/make_gguf_goldens.py"
"$py" "$here/make_gguf_goldens.py" --architectures
"$py" "$here/make_gguf_goldens.py" --smollm2 "$("$here/fetch_smollm2.sh")"

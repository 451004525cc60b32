"""Where does training time go? torch.profiler over the HF Trainer script and bizmodel.

Profiles one short epoch of each (the first ``--rows`` training rows of SemEval headlines,
(company, title), batch 16, same settings as ``train_speed.py``) and prints the top operators
by self CPU time, grouped into matmul / attention / optimizer / embedding / other, so the
speed claim in docs/benchmarks.md rests on a measurement and not on a guess.

    PYTHONPATH=src HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 TOKENIZERS_PARALLELISM=false \
        nice -n 10 python benchmarks/profile_training.py --rows 320
"""

from __future__ import annotations

import argparse
import json
import os
import sys

sys.path.insert(0, os.path.dirname(__file__))

import train_speed

GROUPS = {
    "matmul": ("addmm", "mm", "bmm", "matmul", "linear", "baddbmm"),
    "attention": ("softmax", "_softmax", "scaled_dot_product", "_efficient_attention"),
    "optimizer": ("adam", "_fused_adamw", "_foreach", "lerp", "addcdiv", "sqrt"),
    "embedding": ("embedding", "index_add", "embedding_dense_backward", "index_select"),
}


def group_of(name: str) -> str:
    n = name.lower().removeprefix("aten::")
    for g, keys in GROUPS.items():
        if any(n == k or n.startswith(k) for k in keys):
            return g
    return "other"


def profile(fn) -> dict:
    from torch.profiler import ProfilerActivity, profile

    with profile(activities=[ProfilerActivity.CPU]) as prof:
        res = fn()
    events = prof.key_averages()
    total = sum(e.self_cpu_time_total for e in events)
    groups: dict[str, float] = {}
    for e in events:
        groups[group_of(e.key)] = groups.get(group_of(e.key), 0.0) + e.self_cpu_time_total
    top = sorted(events, key=lambda e: -e.self_cpu_time_total)[:12]
    return {
        "result": res,
        "self_cpu_s": round(total / 1e6, 2),
        "share": {g: round(v / total, 3) for g, v in sorted(groups.items(), key=lambda x: -x[1])},
        "top_ops": [(e.key, round(e.self_cpu_time_total / 1e6, 2), e.count) for e in top],
    }


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=320)
    ap.add_argument("--threads", type=int, default=len(os.sched_getaffinity(0)))
    args = ap.parse_args()
    import torch

    torch.set_num_threads(args.threads)
    df = train_speed.load_frame().head(args.rows)
    hp = {
        "epochs": 1,
        "lr": 5e-5,
        "batch_size": 16,
        "max_length": 128,
        "warmup_ratio": 0.1,
        "weight_decay": 0.01,
        "threads": args.threads,
    }
    for name, fn in (
        ("trainer", lambda: train_speed.run_trainer(df, hp, 0)),
        ("bizmodel", lambda: train_speed.run_bizmodel(df, hp, 0, {})),
    ):
        print(json.dumps({"who": name, **profile(fn)}), flush=True)


if __name__ == "__main__":
    main()

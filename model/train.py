"""Training (Adam or RMSprop, early stopping on validation, seeded), prediction and evaluation."""

from __future__ import annotations

import copy
import logging
import os
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from mtmm_es.core.errors import MtmmError
from mtmm_es.extractors.base import MODALITIES

from .data import Batch, Corpus, Video, batches, collate, feature_statistics
from .metrics import binary_metrics, choose_thresholds, emotion_metrics, intensity_metrics, sentiment_metrics
from .network import MTMMES, TUPLE_FIELDS, ModelConfig
from .tasks import EMOTIONS, TASKS

LOWER_IS_BETTER = ("loss", "intensity_mae")
# the validation metrics each task measures (score_predictions names them `<task>_<metric>`)
_log = logging.getLogger(__name__)

TASK_METRICS = {
    "sentiment": ("accuracy", "f1_weighted", "auc"),
    "intensity": ("mae", "pearson"),
    "emotion": (*(f"{e}_{m}" for e in EMOTIONS for m in ("f1", "wacc")), "mean_f1", "mean_wacc"),
    "sarcasm": ("accuracy", "f1_weighted", "f1_macro", "auc"),
}
FEW_EMOTION_EXAMPLES = 10  # validation utterances with an emotion, below which its thresholds are a guess
# what a run early-stops on when no monitor is given: its first task's
DEFAULT_MONITORS = {
    "sentiment": "sentiment_accuracy",
    "intensity": "intensity_mae",
    "emotion": "emotion_mean_f1",
    "sarcasm": "sarcasm_accuracy",
}


@dataclass(frozen=True)
class TrainConfig:
    """Everything that decides a training run (stored in the checkpoint for provenance)."""

    tasks: tuple[str, ...] = ("sentiment",)
    modalities: tuple[str, ...] = MODALITIES
    task_weights: dict[str, float] = field(default_factory=dict)  # default 1.0 each
    hidden: int = 100
    dim: int = 100
    shared: tuple[int, ...] = (100,)
    dropout: float = 0.3
    input_dropout: float = 0.0
    modality_dropout: float = 0.0
    context_norm: tuple[str, ...] = ()  # modalities also z-normalised over each video's utterances
    context_shrink: float = 2.0
    video_norm: tuple[str, ...] = ()  # modalities z-normalised over each video only (train/test scale shifts)
    linear_context: tuple[str, ...] = ()  # modalities every head also reads linearly, with their video context
    optimizer: str = "adam"  # or "rmsprop"
    lr: float = 1e-3
    weight_decay: float = 0.0
    batch_size: int = 16
    epochs: int = 100
    patience: int = 15
    monitor: str = "sentiment_accuracy"  # validation metric for early stopping ("loss" or a metric name)
    seed: int = 0

    def model_config(self, input_dims: dict[str, int]) -> ModelConfig:
        return ModelConfig(
            input_dims={m: input_dims[m] for m in self.modalities},
            tasks=self.tasks,
            hidden=self.hidden,
            dim=self.dim,
            shared=self.shared,
            dropout=self.dropout,
            input_dropout=self.input_dropout,
            modality_dropout=self.modality_dropout,
            context_norm=tuple(m for m in self.context_norm if m in self.modalities),
            context_shrink=self.context_shrink,
            video_norm=tuple(m for m in self.video_norm if m in self.modalities),
            linear_context=tuple(m for m in self.linear_context if m in self.modalities),
        )

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TrainConfig:
        if not isinstance(data, dict):
            raise MtmmError(f'training options are an object such as {{"epochs": 50}}, not {data!r}')
        known = {f for f in cls.__dataclass_fields__}
        unknown = set(data) - known
        if unknown:
            raise MtmmError(f"unknown training options: {', '.join(sorted(unknown))}")
        for name in ("modalities", *TUPLE_FIELDS):
            value = data.get(name, [])
            if isinstance(value, str) or not isinstance(value, (list, tuple)):
                raise MtmmError(f"{name} is a list such as {list(getattr(cls(), name)) or ['text']}, not {value!r}")
        lists = {
            "tasks": TASKS,
            **dict.fromkeys(("modalities", "context_norm", "video_norm", "linear_context"), MODALITIES),
        }
        for name, allowed in lists.items():
            if unknown := [v for v in data.get(name, ()) if v not in allowed]:
                raise MtmmError(f"unknown {name}: {', '.join(map(str, unknown))} (known: {', '.join(allowed)})")
        tuples = {k: tuple(v) for k, v in data.items() if k in ("modalities", *TUPLE_FIELDS)}
        return cls(**{**data, **tuples})


@dataclass
class TrainResult:
    model: MTMMES
    thresholds: dict[str, list[float]]
    validation: dict[str, float]
    history: list[dict[str, float]]
    best_epoch: int


def seed_everything(seed: int) -> None:
    torch.manual_seed(seed)
    np.random.seed(seed % 2**32)
    torch.use_deterministic_algorithms(True)


def _to_inputs(batch: Batch) -> dict[str, Any]:
    return {
        "features": batch.features,
        "masks": batch.masks,
        "lengths": batch.lengths,
        "utterance_mask": batch.utterance_mask,
    }


def task_loss(task: str, output: torch.Tensor, target: torch.Tensor, weight: torch.Tensor) -> torch.Tensor | None:
    """Weighted mean loss over labelled utterances; None when the batch has no label for the task.
    A weight counts relative to the batch's other labels of the task: weak labels (weight 0.5) weigh
    half a gold label beside one, and fully in a batch without gold labels of that task."""
    total = weight.sum()
    if total <= 0:
        return None
    if task == "sentiment":
        log_p = F.log_softmax(output, dim=-1)
        per_utterance = -(target * log_p[..., 1] + (1 - target) * log_p[..., 0])
    elif task == "emotion":
        per_utterance = F.binary_cross_entropy_with_logits(output, target, reduction="none").mean(-1)
    elif task == "sarcasm":
        per_utterance = F.binary_cross_entropy_with_logits(output, target, reduction="none")
    else:  # intensity
        per_utterance = F.l1_loss(output, target, reduction="none")
    return (per_utterance * weight).sum() / total


def batch_loss(
    model: MTMMES, batch: Batch, task_weights: dict[str, float], forward: torch.nn.Module | None = None
) -> torch.Tensor | None:
    """Sum of weighted task losses; `forward` runs the batch instead of `model` (a DDP wrapper)."""
    outputs = (forward or model)(**_to_inputs(batch))
    losses = []
    for task in model.config.tasks:
        loss = task_loss(task, outputs[task], batch.targets[task], batch.weights[task])
        if loss is not None:
            losses.append(task_weights.get(task, 1.0) * loss)
    return torch.stack(losses).sum() if losses else None


def probabilities(task: str, output: torch.Tensor) -> torch.Tensor:
    """Head output -> per-utterance prediction: P(positive), emotion probabilities, P(sarcasm), score."""
    if task == "sentiment":
        return torch.softmax(output, dim=-1)[..., 1]
    if task in ("emotion", "sarcasm"):
        return torch.sigmoid(output)
    return output.clamp(-3.0, 3.0)


@torch.no_grad()
def predict(
    model: MTMMES, videos: Sequence[Video], batch_size: int = 32, attention: bool = False
) -> list[dict[str, np.ndarray]]:
    """Per video, per task: predictions [U] or [U, K]; with attention, also `attention/X-Y` [2, U, U]."""
    model.eval()
    config = model.config
    results: list[dict[str, np.ndarray]] = []
    for group in batches(list(videos), batch_size):
        batch = collate(group, config.modalities, config.tasks, config.input_dims)
        outputs = model(**_to_inputs(batch), return_attention=attention)
        for row, video in enumerate(group):
            n = len(video)
            item = {t: probabilities(t, outputs[t])[row, :n].numpy() for t in config.tasks}
            for key, value in outputs.items():
                if key.startswith("attention/"):
                    item[key] = value[row, :, :n, :n].numpy()
            results.append(item)
    return results


def gather(videos: Sequence[Video], predictions: Sequence[dict[str, np.ndarray]], task: str):
    """Stacked (truth, prediction) over the utterances that have a label for `task`."""
    truths, preds = [], []
    for video, predicted in zip(videos, predictions):
        if task not in video.weights or task not in predicted:
            continue
        labelled = video.weights[task] > 0
        truths.append(video.targets[task].reshape(len(video), -1)[labelled])
        preds.append(predicted[task].reshape(len(video), -1)[labelled])
    if not truths:
        return None, None
    truth, pred = np.concatenate(truths), np.concatenate(preds)
    return (truth[:, 0], pred[:, 0]) if truth.shape[1] == 1 else (truth, pred)


def score_predictions(
    videos: Sequence[Video],
    predictions: Sequence[dict[str, np.ndarray]],
    tasks: Sequence[str],
    thresholds: dict[str, list[float]] | None = None,
) -> tuple[dict[str, float], dict[str, list[float]]]:
    """Metrics of `predictions` against the videos' labels, and the emotion thresholds used (the
    given ones, else chosen on these videos: pass validation data only)."""
    metrics: dict[str, float] = {}
    chosen = dict(thresholds or {})
    for task in tasks:
        truth, pred = gather(videos, predictions, task)
        if truth is None or len(truth) == 0:
            continue
        if task == "sentiment":
            metrics |= {f"sentiment_{k}": v for k, v in sentiment_metrics((truth >= 0.5).astype(int), pred).items()}
        elif task == "sarcasm":
            metrics |= {f"sarcasm_{k}": v for k, v in binary_metrics((truth >= 0.5).astype(int), pred).items()}
        elif task == "intensity":
            metrics |= {f"intensity_{k}": v for k, v in intensity_metrics(truth, pred).items()}
        else:
            binary = (truth >= 0.5).astype(int)
            if "emotion_f1" not in chosen:
                chosen["emotion_f1"] = choose_thresholds(binary, pred, "f1")
                chosen["emotion_wacc"] = choose_thresholds(binary, pred, "wacc")
            scores = emotion_metrics(binary, pred, chosen["emotion_f1"], chosen["emotion_wacc"])
            metrics |= {f"emotion_{k}": v for k, v in scores.items()}
    return metrics, chosen


def evaluate(
    model: MTMMES, corpus: Corpus, thresholds: dict[str, list[float]] | None = None
) -> tuple[dict[str, float], dict[str, list[float]]]:
    """Metrics of `model` on `corpus` (see score_predictions)."""
    return score_predictions(corpus.videos, predict(model, corpus.videos), model.config.tasks, thresholds)


@torch.no_grad()
def validation_loss(model: MTMMES, corpus: Corpus, task_weights: dict[str, float]) -> float:
    model.eval()
    config = model.config
    total, count = 0.0, 0
    for group in batches(corpus.videos, 32):
        loss = batch_loss(model, collate(group, config.modalities, config.tasks, config.input_dims), task_weights)
        if loss is not None:
            total, count = total + float(loss), count + 1
    return total / max(count, 1)


def measured_metrics(tasks: Sequence[str]) -> tuple[str, ...]:
    """The monitors a run on `tasks` can early-stop on: "loss" and the tasks' validation metrics."""
    return ("loss", *(f"{t}_{m}" for t in tasks for m in TASK_METRICS.get(t, ())))


def default_monitor(tasks: Sequence[str]) -> str:
    """The monitor for a run on `tasks` when none is given (sentiment accuracy where sentiment is trained)."""
    chosen = [t for t in ("sentiment", *tasks) if t in tasks and t in DEFAULT_MONITORS]
    return DEFAULT_MONITORS[chosen[0]] if chosen else "loss"


def check_monitor(monitor: str, tasks: Sequence[str]) -> None:
    """Refuse a monitor that a run on `tasks` does not measure (before the work, not after epoch 1);
    unknown tasks are left to build_model, which names them."""
    if set(tasks) <= set(TASK_METRICS) and monitor not in measured_metrics(tasks):
        raise MtmmError(
            f"monitor '{monitor}' is not measured when training {', '.join(tasks)} "
            f"(choose loss or one of: {', '.join(measured_metrics(tasks)[1:])})"
        )


def _improved(metric: str, value: float, best: float | None) -> bool:
    if best is None or np.isnan(best):
        return not np.isnan(value)
    return value < best if metric in LOWER_IS_BETTER else value > best


def check_tasks(tasks: Sequence[str]) -> None:
    """Refuse task sets the labels cannot report: intensity is written as the sentiment's score."""
    if "intensity" in tasks and "sentiment" not in tasks:
        raise MtmmError(
            "intensity is reported as the sentiment's score: train it with sentiment (--tasks sentiment,intensity)"
        )


def build_model(config: TrainConfig, train: Corpus) -> MTMMES:
    check_tasks(config.tasks)
    missing = [m for m in config.modalities if m not in train.spec]
    if missing:
        raise MtmmError(f"corpus '{train.name}' has no {', '.join(missing)} features")
    unlabelled = [t for t in config.tasks if t not in train.tasks()]
    if unlabelled:
        raise MtmmError(f"corpus '{train.name}' has no labels for {', '.join(unlabelled)}")
    dims = {m: int(train.spec[m]["dim"]) for m in config.modalities}
    model = MTMMES(config.model_config(dims))
    model.set_normalisation({m: feature_statistics(train.videos, m, dims[m]) for m in config.modalities})
    return model


def distributed_rank() -> tuple[int, int]:
    """(rank, world size) when started by torchrun (a process group is set up once), else (0, 1)."""
    if "WORLD_SIZE" not in os.environ:
        return 0, 1
    import torch.distributed as dist

    if not dist.is_initialized():
        dist.init_process_group(backend="gloo")
    return dist.get_rank(), dist.get_world_size()


def _scored(model: MTMMES, val_corpus: Corpus, config: TrainConfig) -> dict[str, float]:
    """The validation metrics and loss early stopping reads; the monitor must be among them."""
    metrics, _ = evaluate(model, val_corpus)
    metrics["loss"] = validation_loss(model, val_corpus, config.task_weights)
    if config.monitor not in metrics:
        raise MtmmError(f"monitor '{config.monitor}' is not measured (have: {', '.join(sorted(metrics))})")
    return metrics


def train(
    train_corpus: Corpus, val_corpus: Corpus, config: TrainConfig, log=print, start: MTMMES | None = None
) -> TrainResult:
    """Train with early stopping on `config.monitor` measured on `val_corpus`; returns the best epoch's model.

    With `start` (fine-tuning) a copy of that trained model goes on learning, and it counts as epoch
    0: unless an epoch beats it on validation, it is what comes back. Under torchrun the model is
    wrapped in DistributedDataParallel and each process optimises a disjoint share of every epoch's
    batches; all processes validate alike, so they stop together.
    """
    seed_everything(config.seed)
    model = copy.deepcopy(start) if start is not None else build_model(config, train_corpus)
    rank, world = distributed_rank()
    forward: torch.nn.Module = model
    if "WORLD_SIZE" in os.environ:
        from torch.nn.parallel import DistributedDataParallel

        forward = DistributedDataParallel(model, find_unused_parameters=True)
    optimiser_class = {"adam": torch.optim.Adam, "rmsprop": torch.optim.RMSprop}.get(config.optimizer)
    if optimiser_class is None:
        raise MtmmError(f"unknown optimizer '{config.optimizer}' (choose adam or rmsprop)")
    optimiser = optimiser_class(model.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    rng = np.random.default_rng(config.seed)
    dims = model.config.input_dims
    best_value, best_state, best_epoch, history = None, None, 0, []
    log = log if rank == 0 else None
    if start is not None:
        best_value, best_state = _scored(model, val_corpus, config)[config.monitor], copy.deepcopy(model.state_dict())
        if log:
            log(f"{'start':19s}val {config.monitor}={best_value:.4f}")
    for epoch in range(1, config.epochs + 1):
        started = time.perf_counter()
        model.train()
        groups = list(batches(train_corpus.videos, config.batch_size, rng))
        share = groups[rank : max(world, len(groups) // world * world) : world]
        for group in share:
            batch = collate(group, config.modalities, config.tasks, dims)
            loss = batch_loss(model, batch, config.task_weights, forward)
            if loss is None:
                if world == 1:
                    continue
                loss = sum(p.sum() for p in model.parameters()) * 0.0  # keep the processes in step
            optimiser.zero_grad()
            loss.backward()
            optimiser.step()
        seconds = time.perf_counter() - started
        metrics = _scored(model, val_corpus, config)
        history.append({"epoch": epoch, "seconds": seconds, **metrics})
        if _improved(config.monitor, metrics[config.monitor], best_value):
            best_value, best_state, best_epoch = metrics[config.monitor], copy.deepcopy(model.state_dict()), epoch
        if log:
            log(f"epoch {epoch:3d}  {seconds:5.1f}s  val {config.monitor}={metrics[config.monitor]:.4f}")
        if epoch - best_epoch >= max(config.patience, 1):  # patience 0: stop at the first epoch without gain
            break
    if best_state is None:
        raise MtmmError(
            f"monitor '{config.monitor}' is undefined on the validation data in every epoch (say, no "
            "positive label there): early-stop on another metric, or on 'loss'"
        )
    model.load_state_dict(best_state)
    validation, thresholds = evaluate(model, val_corpus)
    validation["loss"] = validation_loss(model, val_corpus, config.task_weights)
    return TrainResult(model, thresholds, validation, history, best_epoch)


def warn_if_few_emotions(videos: Sequence[Video], name: str, kept: Sequence[str] = ()) -> None:
    """Emotion thresholds are chosen on these validation videos' labels: say when an emotion has too
    few there for its thresholds to mean much (they may then label it everywhere, or nowhere);
    `kept`: emotions whose thresholds were not chosen there."""
    rows = [
        v.targets["emotion"][v.weights["emotion"] > 0, : len(EMOTIONS)] >= 0.5 for v in videos if "emotion" in v.weights
    ]
    counts = np.concatenate(rows).sum(0) if rows else []
    few = [
        f"{emotion} {int(count)}"
        for emotion, count in zip(EMOTIONS, counts)
        if count < FEW_EMOTION_EXAMPLES and emotion not in kept
    ]
    if few:
        _log.warning(
            "%s: emotion thresholds chosen on few validation utterances with the emotion (%s; under %d): "
            "its labels may fire on every utterance or on none, at --emotion-thresholds wacc most of all",
            name,
            ", ".join(few),
            FEW_EMOTION_EXAMPLES,
        )


def with_overrides(config: TrainConfig, **overrides: Any) -> TrainConfig:
    """A copy of `config` with the non-None overrides applied, checked as a recipe's options are
    (an unknown task or modality is refused before any data loads)."""
    return TrainConfig.from_dict({**config.to_dict(), **{k: v for k, v in overrides.items() if v is not None}})

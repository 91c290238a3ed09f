"""Command line: `mtmm` (extract, train, evaluate, predict) and `analyze-video`, thin over the Python API."""

from __future__ import annotations

import argparse
import os
import sys
import traceback
from collections.abc import Callable, Sequence

from mtmm_es.core.errors import MtmmError


def add_extraction_arguments(parser: argparse.ArgumentParser) -> None:
    from mtmm_es.extractors.asr import BACKENDS, AsrConfig
    from mtmm_es.extractors.visual import VisualConfig
    from mtmm_es.pipeline import SegmentationConfig

    asr, segmentation, visual = AsrConfig(), SegmentationConfig(), VisualConfig()
    group = parser.add_argument_group("extraction")
    group.add_argument("--asr", choices=BACKENDS, default=asr.backend)
    group.add_argument("--asr-model", help="faster-whisper: CTranslate2 model dir; openai-whisper: name or .pt")
    group.add_argument("--asr-beam-size", type=int, default=asr.beam_size)
    group.add_argument("--no-vad", action="store_true", help="disable Silero VAD (faster-whisper)")
    group.add_argument("--language", default=asr.language)
    group.add_argument("--pause", type=float, default=segmentation.pause_s, help="pause (s) that ends an utterance")
    group.add_argument(
        "--sentence-split",
        type=float,
        default=segmentation.sentence_split_s,
        help="also cut at sentence ends once an utterance is this long (s)",
    )
    group.add_argument("--max-utterance", type=float, default=segmentation.max_duration_s, help="longest utterance (s)")
    group.add_argument(
        "--min-utterance",
        type=float,
        default=segmentation.min_duration_s,
        help="shorter utterances are merged into a neighbour (s)",
    )
    group.add_argument("--segments", help="SRT, WebVTT or CSV (start,end[,text]) utterance windows")
    group.add_argument("--text-vectors", help="GloVe .txt, word2vec .bin/.txt or gensim .kv (default: GloVe 6B 50d)")
    group.add_argument("--text-allow-pickle", action="store_true", help="allow loading a pickled gensim .kv file")
    group.add_argument("--text-weighting", choices=("mean", "sif"), default="mean", help="word weights in the average")
    group.add_argument("--no-negation", action="store_true", help="do not flip words in a negation's scope")
    group.add_argument("--acoustic", choices=("covarep", "egemaps"), default="covarep")
    group.add_argument("--face-model", help="MediaPipe Face Landmarker .task with blendshapes")
    group.add_argument("--fps", type=float, default=visual.fps, help="video frames analysed per second")
    group.add_argument("--max-side", type=int, default=visual.max_side, help="frames are scaled to this longer side")
    group.add_argument("--speakers", type=int, help="the number of speakers when known (default: estimated)")
    group.add_argument("--no-speakers", action="store_true", help="no speaker labels (skip diarization)")
    group.add_argument("--modalities", default="text,acoustic,visual")
    group.add_argument("--ffmpeg", help="ffmpeg binary (default: the one in imageio-ffmpeg)")
    group.add_argument("--no-cache", action="store_true")
    group.add_argument("--cache-dir", help="default: $MTMM_CACHE_DIR or ~/.cache/mtmm-es")


def extraction_config(args: argparse.Namespace):
    """ExtractionConfig from parsed arguments."""
    from mtmm_es.extractors.acoustic import AcousticConfig
    from mtmm_es.extractors.asr import AsrConfig
    from mtmm_es.extractors.text import TextConfig
    from mtmm_es.extractors.visual import VisualConfig
    from mtmm_es.pipeline import ExtractionConfig, SegmentationConfig
    from mtmm_es.pipeline.diarize import DiarizationConfig

    return ExtractionConfig(
        asr=AsrConfig(
            backend=args.asr,
            model=args.asr_model,
            language=args.language,
            beam_size=args.asr_beam_size,
            vad=not args.no_vad,
        ),
        segmentation=SegmentationConfig(args.pause, args.sentence_split, args.max_utterance, args.min_utterance),
        text=TextConfig(
            vectors=args.text_vectors,
            allow_pickle=args.text_allow_pickle,
            negation=not args.no_negation,
            weighting=args.text_weighting,
        ),
        acoustic=AcousticConfig(extractor=args.acoustic),
        visual=VisualConfig(model=args.face_model, fps=args.fps, max_side=args.max_side),
        diarization=DiarizationConfig(enabled=not args.no_speakers, speakers=args.speakers),
        modalities=tuple(m.strip() for m in args.modalities.split(",") if m.strip()),
        segments=args.segments,
        ffmpeg=args.ffmpeg,
        cache=not args.no_cache,
        cache_dir=args.cache_dir,
    )


def _extract(args: argparse.Namespace) -> int:
    from mtmm_es.pipeline import FeaturePipeline, write_extraction

    extraction = FeaturePipeline(extraction_config(args)).extract(args.media)
    out = write_extraction(extraction, args.out)
    for warning in extraction.warnings:
        print(f"warning: {args.media}: {warning}", file=sys.stderr)
    print(
        f"{args.media}: {len(extraction.utterances)} utterances, {extraction.media.duration:.1f} s "
        f"in {extraction.timings['total']:.1f} s -> {out}"
    )
    return 0


def _print_metrics(title: str, metrics: dict[str, float]) -> None:
    print(title)
    for key, value in sorted(metrics.items()):
        print(f"  {key:28s} {value:.4f}")


def _train(args: argparse.Namespace) -> int:
    from mtmm_es.pipeline.training import train_and_save

    report = train_and_save(
        out=args.out,
        data_dir=args.data_dir,
        recipe=args.recipe,
        dataset=args.dataset,
        seed=args.seed,
        overrides={
            "tasks": _split(args.tasks),
            "modalities": _split(args.modalities),
            "epochs": args.epochs,
            "patience": args.patience,
            "monitor": args.monitor,
            "lr": args.lr,
            "batch_size": args.batch_size,
            "optimizer": args.optimizer,
        },
        folds=args.folds,
        val_fraction=args.val_fraction,
        verbose=args.verbose,
    )
    if "validation" in report:
        _print_metrics(
            f"validation ({report['validation_kind']}, {report['validation_videos']} videos):", report["validation"]
        )
    for dataset, metrics in report.get("mtl_pooled_weak", {}).items():
        _print_metrics(f"validation, {dataset}:", metrics)
    print(f"checkpoint -> {args.out}")
    return 0


def _evaluate(args: argparse.Namespace) -> int:
    from mtmm_es.pipeline.training import evaluate_checkpoint

    metrics = evaluate_checkpoint(args.checkpoint, args.dataset, args.data_dir, args.split)
    _print_metrics(f"{args.dataset} {args.split}:", metrics)
    return 0


def _predict(args: argparse.Namespace) -> int:
    from mtmm_es.pipeline.training import predict_to_csv, predict_transcripts

    if args.transcripts:
        count = predict_transcripts(args.transcripts, args.out, args.checkpoint)
    elif args.dataset and args.data_dir and args.checkpoint:
        count = predict_to_csv(args.checkpoint, args.dataset, args.data_dir, args.split, args.out)
    else:
        raise MtmmError("predict needs --transcripts FILE, or --dataset, --data-dir and --checkpoint")
    print(f"{count} predictions -> {args.out}")
    return 0


def _split(value: str | None) -> tuple[str, ...] | None:
    return tuple(v.strip() for v in value.split(",") if v.strip()) if value else None


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="mtmm", description="Multi-task multimodal emotion and sentiment.")
    commands = parser.add_subparsers(dest="command", required=True)
    extract = commands.add_parser("extract", help="utterances and aligned features of one media file")
    extract.add_argument("media")
    extract.add_argument("--out", required=True, help="folder for utterances.json, features.npz, spec.json")
    add_extraction_arguments(extract)
    extract.set_defaults(run=_extract)

    train = commands.add_parser("train", help="train a model on a dataset or from a recipe")
    source = train.add_mutually_exclusive_group(required=True)
    source.add_argument("--recipe", help="a shipped recipe name (e.g. mosi) or a recipe JSON file")
    source.add_argument("--dataset", help="dataset to train on with options given here")
    train.add_argument("--data-dir", required=True)
    train.add_argument("--out", required=True, help="checkpoint folder to write")
    train.add_argument("--seed", type=int)
    train.add_argument("--tasks", help="comma-separated: sentiment,intensity,emotion,sarcasm (one = single-task)")
    train.add_argument("--modalities", help="comma-separated subset of text,acoustic,visual")
    train.add_argument("--folds", type=int, help="k-fold ensemble; 1 = one validation split")
    train.add_argument("--val-fraction", type=float, help="share of training videos held out for validation")
    train.add_argument("--epochs", type=int)
    train.add_argument("--patience", type=int)
    train.add_argument("--monitor", help="validation metric for early stopping (or 'loss')")
    train.add_argument("--lr", type=float)
    train.add_argument("--batch-size", type=int)
    train.add_argument("--optimizer", choices=("adam", "rmsprop"))
    train.add_argument("--verbose", action="store_true", help="print every epoch")
    train.set_defaults(run=_train)

    evaluate = commands.add_parser("evaluate", help="metrics of a checkpoint on a labelled split")
    evaluate.add_argument("--dataset", required=True)
    evaluate.add_argument("--data-dir", required=True)
    evaluate.add_argument("--split", default="train")
    evaluate.add_argument("--checkpoint", required=True, help="checkpoint folder")
    evaluate.set_defaults(run=_evaluate)

    predict = commands.add_parser("predict", help="per-utterance predictions as CSV")
    predict.add_argument("--transcripts", help="CSV video_id,segment_id,text[,start,end]: text through the model")
    predict.add_argument("--dataset")
    predict.add_argument("--data-dir")
    predict.add_argument("--split", default="test")
    predict.add_argument("--checkpoint", help="checkpoint folder (default for --transcripts: the shipped model)")
    predict.add_argument("--out", required=True, help="CSV file to write")
    predict.set_defaults(run=_predict)
    return parser


def run_guarded(run: Callable[[], int]) -> int:
    """Run a command; expected failures become one line on stderr, never a traceback."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    try:
        return run()
    except MtmmError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except Exception as error:  # a bug: say so in one line, traceback only on request
        if os.getenv("MTMM_DEBUG"):
            traceback.print_exc()
        print(f"error: unexpected {type(error).__name__}: {error} (MTMM_DEBUG=1 shows the traceback)", file=sys.stderr)
        return 1


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return run_guarded(lambda: args.run(args))


def analyze_video(argv: Sequence[str] | None = None) -> int:
    from mtmm_es.pipeline.batch import default_workers
    from mtmm_es.pipeline.formats import FORMATS

    parser = argparse.ArgumentParser(
        prog="analyze-video",
        description="Label every utterance of a video (or of every video in a folder) with sentiment, "
        "emotions and sarcasm. Exit status: 0 success, 1 some files of a folder failed (see the run "
        "summary), 2 bad invocation or unreadable single input, 130 interrupted.",
    )
    parser.add_argument("media", help="a media file, or a folder of them")
    parser.add_argument("--out", required=True, help="file (or - for stdout) for one input; folder for a folder")
    parser.add_argument("--format", choices=FORMATS, default="json")
    parser.add_argument("--report", action="store_true", help="also write an HTML report and PNG plots")
    parser.add_argument(
        "--embed-video", action="store_true", help="put a low-resolution copy of the video inside the report"
    )
    parser.add_argument("--checkpoint", help="checkpoint folder (default: the shipped default model)")
    parser.add_argument(
        "--emotion-thresholds",
        choices=("f1", "wacc"),
        help="validation thresholds that turn emotion scores into labels (default: the checkpoint's)",
    )
    batch = parser.add_argument_group("folders")
    batch.add_argument("--recursive", action="store_true")
    batch.add_argument("--glob", help="only file names matching this pattern, e.g. '*.mp4'")
    batch.add_argument("--overwrite", action="store_true", help="redo inputs whose outputs are up to date")
    batch.add_argument("--workers", type=int, default=default_workers(), help="parallel worker processes")
    batch.add_argument("--backend", choices=("local", "ray"), default="local")
    batch.add_argument("--ray-address", help="an existing Ray cluster (default: start a local one)")
    add_extraction_arguments(parser)
    args = parser.parse_args(argv)
    return run_guarded(lambda: _analyze(args))


def _analyze(args: argparse.Namespace) -> int:
    from pathlib import Path

    if Path(args.media).is_dir():
        return _analyze_folder(args)
    from mtmm_es.core.files import atomic_write_text
    from mtmm_es.pipeline.analyze import Pipeline
    from mtmm_es.pipeline.formats import render

    result = Pipeline(extraction_config(args), args.checkpoint, args.emotion_thresholds).analyze(args.media)
    for warning in result.warnings:
        print(f"warning: {args.media}: {warning}", file=sys.stderr)
    text = render(result, args.format)
    if args.out == "-":
        sys.stdout.write(text)
    else:
        atomic_write_text(args.out, text)
        if args.report:
            from mtmm_es.pipeline.report import write_report

            write_report(result, Path(args.out).with_suffix(".html"), embed_video=args.embed_video, ffmpeg=args.ffmpeg)
        summary = result.summary.get("sentiment", {})
        print(f"{args.media}: {len(result.utterances)} utterances, overall {summary.get('label', 'n/a')} -> {args.out}")
    return 0


def _analyze_folder(args: argparse.Namespace) -> int:
    from mtmm_es.pipeline.batch import BatchOptions, run_batch

    options = BatchOptions(
        format=args.format,
        recursive=args.recursive,
        pattern=args.glob,
        overwrite=args.overwrite,
        workers=args.workers,
        report=args.report,
        backend=args.backend,
        ray_address=args.ray_address,
    )
    summary = run_batch(
        args.media, args.out, options, extraction_config(args), args.checkpoint, args.emotion_thresholds
    )
    counts = summary.counts()
    for outcome in summary.outcomes:
        if outcome.status == "failed":
            print(f"failed: {outcome.input}: {outcome.reason}", file=sys.stderr)
    print(
        f"{counts['processed']} processed, {counts['skipped']} skipped, {counts['failed']} failed"
        f"{' (interrupted)' if summary.interrupted else ''} -> {args.out}"
    )
    if summary.interrupted:
        return 130
    return 1 if counts["failed"] else 0

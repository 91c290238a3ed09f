"""Command line: `mtmm` (extract, train, evaluate, predict) and `analyze-video`, thin over the Python API.

Every option is checked before any work (exit 2 with one line); library messages reach the user
through the `mtmm_es` logger, configured here (-v more, -q less)."""

from __future__ import annotations

import argparse
import contextlib
import logging
import math
import os
import signal
import sys
import traceback
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

from mtmm_es.core.errors import MtmmError, quoted
from mtmm_es.core.signals import (
    Terminated,
    exit_now_if_threads_remain,
    interrupt_behind,
    raise_on_termination,
    signals_end_the_process,
)
from mtmm_es.core.version import own_version

log = logging.getLogger("mtmm_es")


class _Parser(argparse.ArgumentParser):
    """An argument parser whose errors are one line (exit 2) and whose help shows defaults."""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("formatter_class", _HelpFormatter)
        super().__init__(*args, **kwargs)

    def error(self, message: str):
        self.exit(2, f"{self.prog}: error: {message}\n")


class _HelpFormatter(argparse.ArgumentDefaultsHelpFormatter):
    def _get_help_string(self, action: argparse.Action) -> str:
        if action.default in (None, False) or "%(default)" in (action.help or ""):
            return action.help or ""
        return super()._get_help_string(action)


def _number(kind: type, minimum: float | None = None, above: float | None = None, below: float | None = None):
    """An argparse type: a finite `kind` within bounds, else a one-line error."""

    def parse(text: str):
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"'{text}' is not a {'whole ' if kind is int else ''}number") from None
        if not math.isfinite(value):
            raise argparse.ArgumentTypeError(f"'{text}' is not a finite number")
        if minimum is not None and value < minimum:
            raise argparse.ArgumentTypeError(f"must be at least {minimum}, not {text}")
        if above is not None and value <= above:
            raise argparse.ArgumentTypeError(f"must be more than {above}, not {text}")
        if below is not None and value >= below:
            raise argparse.ArgumentTypeError(f"must be less than {below}, not {text}")
        return value

    return parse


def _existing_file(text: str) -> str:
    if Path(text).is_dir():
        raise argparse.ArgumentTypeError(f"a folder, not a file: {quoted(text)}")
    if Path(text).exists() and not Path(text).is_file():
        raise argparse.ArgumentTypeError(f"not a regular file (a pipe or device): {quoted(text)}")
    if not Path(text).is_file():
        raise argparse.ArgumentTypeError(f"file not found: {quoted(text)}")
    return text


def _existing(text: str) -> str:
    if not Path(text).exists():
        raise argparse.ArgumentTypeError(f"not found: {quoted(text)}")
    return text


def _checkpoint(text: str) -> str:
    """A checkpoint folder; 'default' is the shipped model (as for `mtmm train --from`)."""
    if text == "default":
        from mtmm_es.pipeline.analyze import default_checkpoint_dir

        return str(default_checkpoint_dir())
    return _existing(text)


def _modalities(text: str) -> tuple[str, ...]:
    from mtmm_es.extractors.base import MODALITIES

    chosen = tuple(m.strip() for m in text.split(",") if m.strip())
    unknown = [m for m in chosen if m not in MODALITIES]
    if unknown or not chosen:
        raise argparse.ArgumentTypeError(f"choose a comma-separated subset of {','.join(MODALITIES)}, not '{text}'")
    return chosen


def add_version_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--version", action="version", version=f"%(prog)s {own_version()}")


def add_message_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "-v",
        "--verbose",
        action="count",
        default=0,
        help="more messages: progress (shown on a terminal anyway), -vv debug",
    )
    parser.add_argument(
        "-q", "--quiet", action="count", default=0, help="fewer messages: warnings and errors, -qq errors"
    )


class _Messages(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        message = record.getMessage().replace("\n", " ")
        if (record.exc_info or record.exc_text) and os.getenv("MTMM_DEBUG"):  # exc_text: a worker's
            message += "\n" + (record.exc_text or self.formatException(record.exc_info))
        return message if record.levelno == logging.INFO else f"{record.levelname.lower()}: {message}"


def configure_logging(verbose: int, quiet: int) -> None:
    """Messages of the `mtmm_es` logger on stderr: warnings, plus progress when stderr is a terminal;
    each -v shows more (info, then debug), each -q less (errors only)."""
    levels = (logging.ERROR, logging.WARNING, logging.INFO, logging.DEBUG)
    start = 2 if sys.stderr and sys.stderr.isatty() else 1
    if quiet:  # -q: warnings and errors, on a terminal or not; -qq: errors only
        level = levels[max(0, 2 - quiet)]
    else:
        level = levels[min(len(levels) - 1, start + verbose)]
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(_Messages())
    log.handlers[:] = [handler]
    log.setLevel(level)


def add_extraction_arguments(parser: argparse.ArgumentParser) -> None:
    from mtmm_es.extractors.acoustic import EXTRACTORS, AcousticConfig
    from mtmm_es.extractors.asr import BACKENDS, AsrConfig
    from mtmm_es.extractors.text import WEIGHTINGS
    from mtmm_es.extractors.visual import VisualConfig
    from mtmm_es.pipeline import SegmentationConfig

    asr, segmentation, visual, acoustic = AsrConfig(), SegmentationConfig(), VisualConfig(), AcousticConfig()
    group = parser.add_argument_group("extraction")
    group.add_argument("--asr", choices=BACKENDS, default=asr.backend, help="speech recognition backend")
    group.add_argument(
        "--asr-model", help="faster-whisper: CTranslate2 model dir; openai-whisper: name or .pt (default: bundled)"
    )
    group.add_argument("--asr-beam-size", type=_number(int, minimum=1), default=asr.beam_size, help="ASR beam width")
    group.add_argument(
        "--no-vad",
        action="store_true",
        help="disable Silero VAD: recognition runs on all the audio and utterance windows follow the words alone",
    )
    group.add_argument(
        "--language",
        default=asr.language,
        help="auto: identify it on the first speech; or a Whisper code (en, es, ...)",
    )
    group.add_argument(
        "--translate",
        action=argparse.BooleanOptionalAction,
        default=asr.translate,
        help="translate non-English speech to English for the text model (without: its text is not used)",
    )
    group.add_argument(
        "--pause", type=_number(float, minimum=0), default=segmentation.pause_s, help="pause (s) that ends an utterance"
    )
    group.add_argument(
        "--sentence-split",
        type=_number(float, minimum=0),
        default=segmentation.sentence_split_s,
        help="also cut at sentence ends once an utterance is this long (s)",
    )
    group.add_argument(
        "--max-utterance",
        type=_number(float, above=0),
        default=segmentation.max_duration_s,
        help="longest utterance (s)",
    )
    group.add_argument(
        "--min-utterance",
        type=_number(float, minimum=0),
        default=segmentation.min_duration_s,
        help="shorter utterances are merged into a neighbour (s)",
    )
    group.add_argument(
        "--segments",
        type=_existing_file,
        help="SRT, WebVTT, or CSV with a header row start,end[,text]: utterance windows",
    )
    group.add_argument(
        "--text-vectors",
        type=_existing_file,
        help="GloVe .txt, word2vec .bin/.txt or gensim .kv (default: GloVe 6B 50d); only with a checkpoint "
        "trained on these vectors (the default model refuses them)",
    )
    group.add_argument("--text-allow-pickle", action="store_true", help="allow loading a pickled gensim .kv file")
    group.add_argument("--text-weighting", choices=WEIGHTINGS, default="mean", help="word weights in the average")
    group.add_argument("--no-negation", action="store_true", help="do not flip words in a negation's scope")
    group.add_argument(
        "--acoustic",
        choices=tuple(EXTRACTORS),
        default=acoustic.extractor,
        help="acoustic features for mtmm extract (a checkpoint reads the ones it was trained on)",
    )
    group.add_argument(
        "--face-model",
        type=_existing_file,
        help="MediaPipe Face Landmarker .task with blendshapes (default: the one shipped in extractors/assets)",
    )
    group.add_argument(
        "--fps",
        type=_number(float),
        default=visual.fps,
        help="video frames analysed per second, at most the video's own rate (<= 0: every frame)",
    )
    group.add_argument(
        "--max-side",
        type=_number(int, minimum=16),
        default=visual.max_side,
        help="frames are scaled to this longer side",
    )
    group.add_argument(
        "--speakers",
        type=_number(int, minimum=1),
        help="the number of speakers when known (default: estimated from the voices)",
    )
    group.add_argument("--no-speakers", action="store_true", help="no speaker labels (skip diarization)")
    group.add_argument("--modalities", type=_modalities, default="text,acoustic,visual", help="modalities to extract")
    group.add_argument("--ffmpeg", help="ffmpeg binary (default: the one in imageio-ffmpeg)")
    group.add_argument(
        "--audio-stream",
        type=_number(int, minimum=0),
        help="audio stream to use, from 0 (default: of several, the one with most speech, then most sound)",
    )
    group.add_argument("--no-cache", action="store_true", help="neither read nor write the extraction cache")
    group.add_argument("--cache-dir", help="extraction cache folder (default: $MTMM_CACHE_DIR or ~/.cache/mtmm-es)")


SEGMENTATION_OPTIONS = (
    ("--pause", "pause_s"),
    ("--sentence-split", "sentence_split_s"),
    ("--max-utterance", "max_duration_s"),
    ("--min-utterance", "min_duration_s"),
)


def extraction_config(args: argparse.Namespace):
    """ExtractionConfig from parsed arguments."""
    from mtmm_es.extractors.acoustic import AcousticConfig
    from mtmm_es.extractors.asr import AsrConfig
    from mtmm_es.extractors.text import TextConfig
    from mtmm_es.extractors.visual import VisualConfig
    from mtmm_es.pipeline import ExtractionConfig, SegmentationConfig
    from mtmm_es.pipeline.diarize import DiarizationConfig

    segmentation = SegmentationConfig(args.pause, args.sentence_split, args.max_utterance, args.min_utterance)
    if args.segments:
        default = SegmentationConfig()
        changed = [
            option for option, field in SEGMENTATION_OPTIONS if getattr(segmentation, field) != getattr(default, field)
        ]
        if changed:
            log.warning("%s: not used with --segments (its windows are the utterances)", ", ".join(changed))
    return ExtractionConfig(
        asr=AsrConfig(
            backend=args.asr,
            model=args.asr_model,
            language=args.language,
            translate=args.translate,
            beam_size=args.asr_beam_size,
            vad=not args.no_vad,
        ),
        segmentation=segmentation,
        text=TextConfig(
            vectors=args.text_vectors,
            allow_pickle=args.text_allow_pickle,
            negation=not args.no_negation,
            weighting=args.text_weighting,
        ),
        acoustic=AcousticConfig(extractor=args.acoustic),
        visual=VisualConfig(model=args.face_model, fps=args.fps, max_side=args.max_side),
        diarization=DiarizationConfig(enabled=not args.no_speakers, speakers=args.speakers),
        modalities=args.modalities,
        segments=args.segments,
        ffmpeg=args.ffmpeg,
        audio_stream=args.audio_stream,
        cache=not args.no_cache,
        cache_dir=args.cache_dir,
    )


def _extract(args: argparse.Namespace) -> int:
    from mtmm_es.pipeline import FeaturePipeline, write_extraction
    from mtmm_es.pipeline.destinations import check_output_folder

    _refuse_stdout(args.out, "a folder of files (utterances.json, features.npz, spec.json)")
    check_output_folder(Path(args.out))  # before the work, not after it
    extraction = FeaturePipeline(extraction_config(args)).extract(args.media)
    out = write_extraction(extraction, args.out)
    for warning in extraction.warnings:
        log.warning("%s: %s", quoted(args.media), warning)
    print(
        f"{quoted(args.media)}: {_utterances(len(extraction.utterances))}, {extraction.media.duration:.1f} s "
        f"in {extraction.timings['total']:.1f} s -> {quoted(out)}"
    )
    return 0


def _refuse_stdout(out: str, written: str) -> None:
    """`--out -` where a command writes a folder (it made one named "-")."""
    if out == "-":
        raise MtmmError(f"--out - (stdout) cannot take {written}: give --out a folder name")


def _print_metrics(title: str, metrics: dict[str, float]) -> None:
    print(title)
    for key, value in sorted(metrics.items()):
        print(f"  {key:28s} {value:.4f}")


def _train(args: argparse.Namespace) -> int:
    from mtmm_es.pipeline.training import fine_tune_and_save, train_and_save

    _refuse_stdout(args.out, "a checkpoint folder")
    overrides = {
        "tasks": _split(args.tasks),
        "modalities": _split(args.modalities),
        "epochs": args.epochs,
        "patience": args.patience,
        "monitor": args.monitor,
        "lr": args.lr,
        "batch_size": args.batch_size,
        "optimizer": args.optimizer,
    }
    if args.start:
        if args.recipe or args.folds or not args.dataset:
            raise MtmmError("--from fine-tunes a checkpoint on --dataset: give --dataset, not --recipe or --folds")
        report = fine_tune_and_save(
            out=args.out,
            data_dir=args.data_dir,
            start=args.start,
            dataset=args.dataset,
            overrides={**overrides, "seed": args.seed},
            val_fraction=args.val_fraction,
            verbose=args.verbose > 0,
        )
    elif not (args.recipe or args.dataset):
        raise MtmmError("give --recipe or --dataset (or --from with --dataset)")
    else:
        report = train_and_save(
            out=args.out,
            data_dir=args.data_dir,
            recipe=args.recipe,
            dataset=args.dataset,
            seed=args.seed,
            overrides=overrides,
            folds=args.folds,
            val_fraction=args.val_fraction,
            verbose=args.verbose > 0,
        )
    if report is None:  # a torchrun process that does not write: the writing one reports
        return 0
    if "validation_before" in report:
        _print_metrics(
            "validation of the checkpoint fine-tuned from, on the same videos (emotion thresholds chosen there "
            "as after, for each emotion they show present and absent):",
            report["validation_before"],
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
    from mtmm_es.extractors.text import TextConfig
    from mtmm_es.pipeline.training import evaluate_checkpoint, split_to_score

    split = split_to_score(args.dataset, args.split)
    text_options = TextConfig(vectors=args.text_vectors, allow_pickle=args.text_allow_pickle)
    metrics = evaluate_checkpoint(args.checkpoint, args.dataset, args.data_dir, split, text_options)
    _print_metrics(f"{args.dataset} {split}:", metrics)
    return 0


DATASET_OPTIONS = ("dataset", "data_dir", "split")


def _predict(args: argparse.Namespace) -> int:
    from mtmm_es.extractors.text import TextConfig
    from mtmm_es.pipeline.training import predict_to_csv, predict_transcripts

    text_options = TextConfig(vectors=args.text_vectors, allow_pickle=args.text_allow_pickle)
    if args.transcripts:
        given = [f"--{name.replace('_', '-')}" for name in DATASET_OPTIONS if getattr(args, name) is not None]
        if given:  # the transcripts are the data: these would be ignored
            raise MtmmError(f"{', '.join(given)}: for predictions on a dataset, not with --transcripts")
        with _reader_may_leave(args.out):
            count = predict_transcripts(
                args.transcripts,
                args.out,
                args.checkpoint,
                args.emotion_thresholds,
                args.sarcasm_base_rate,
                text_options,
            )
    elif args.dataset and args.data_dir and args.checkpoint:
        with _reader_may_leave(args.out):
            count = predict_to_csv(
                args.checkpoint,
                args.dataset,
                args.data_dir,
                args.split or "test",
                args.out,
                args.emotion_thresholds,
                args.sarcasm_base_rate,
                text_options,
            )
    else:
        raise MtmmError("predict needs --transcripts FILE, or --dataset, --data-dir and --checkpoint")
    print(f"{count} predictions -> {quoted(args.out)}", file=sys.stderr if args.out == "-" else sys.stdout)
    return 0


def _split(value: str | None) -> tuple[str, ...] | None:
    return tuple(v.strip() for v in value.split(",") if v.strip()) if value else None


def _add_label_arguments(parser: argparse.ArgumentParser) -> None:
    """How scores become labels: the same options for analyze-video and mtmm predict."""
    parser.add_argument(
        "--emotion-thresholds",
        choices=("f1", "wacc"),
        help="validation thresholds that turn emotion scores into labels (default: the checkpoint's)",
    )
    parser.add_argument(
        "--sarcasm-base-rate",
        type=_number(float, above=0.0, below=1.0),
        metavar="SHARE",
        help="the share of sarcastic utterances P(sarcasm) assumes (default: the checkpoint's, 0.1 for the "
        "shipped model; its trained rate, 0.5124, gives P as trained)",
    )


def build_parser() -> argparse.ArgumentParser:
    common = _Parser(add_help=False)
    add_message_arguments(common)
    parser = _Parser(prog="mtmm", description="Multi-task multimodal emotion and sentiment.")
    add_version_argument(parser)
    commands = parser.add_subparsers(dest="command", required=True, parser_class=_Parser, help="what to do")
    extract = commands.add_parser("extract", help="utterances and aligned features of one media file", parents=[common])
    extract.add_argument("media", help="a media file")
    extract.add_argument("--out", required=True, help="folder for utterances.json, features.npz, spec.json")
    add_extraction_arguments(extract)
    extract.set_defaults(run=_extract)

    positive_int, fraction = _number(int, minimum=1), _number(float, above=0, below=1)
    train = commands.add_parser("train", help="train a model on a dataset or from a recipe", parents=[common])
    source = train.add_mutually_exclusive_group()
    source.add_argument("--recipe", help="a shipped recipe name (e.g. mosi) or a recipe JSON file")
    source.add_argument("--dataset", help="dataset to train on with options given here")
    train.add_argument("--data-dir", required=True, type=_existing, help="the dataset's folder")
    train.add_argument(
        "--out", required=True, help="checkpoint folder to write: a new or empty one, or a checkpoint this run replaces"
    )
    train.add_argument(
        "--from",
        dest="start",
        metavar="CHECKPOINT",
        help="fine-tune this checkpoint folder ('default': the shipped model) on --dataset instead of training "
        "from scratch (its tasks, modalities and features; lr 1e-4, at most 30 epochs, patience 5 unless given)",
    )
    train.add_argument("--seed", type=_number(int), help="random seed (default: the recipe's)")
    train.add_argument("--tasks", help="comma-separated: sentiment,intensity,emotion,sarcasm (one = single-task)")
    train.add_argument("--modalities", help="comma-separated subset of text,acoustic,visual")
    train.add_argument("--folds", type=positive_int, help="k-fold ensemble; 1 = one validation split")
    train.add_argument("--val-fraction", type=fraction, help="share of training videos held out for validation")
    train.add_argument("--epochs", type=positive_int, help="most training epochs")
    train.add_argument("--patience", type=_number(int, minimum=0), help="epochs without improvement before stopping")
    train.add_argument(
        "--monitor",
        help="validation metric for early stopping, or 'loss' (default: sentiment_accuracy, else the first "
        "task's: sarcasm_accuracy, emotion_mean_f1, intensity_mae)",
    )
    train.add_argument("--lr", type=_number(float, above=0), help="learning rate")
    train.add_argument("--batch-size", type=positive_int, help="videos per batch")
    train.add_argument("--optimizer", choices=("adam", "rmsprop"), help="optimiser")
    train.set_defaults(run=_train)

    evaluate = commands.add_parser("evaluate", help="metrics of a checkpoint on a labelled split", parents=[common])
    evaluate.add_argument("--dataset", required=True, help="dataset name (mosi, mosei, meld, mustard, ...)")
    evaluate.add_argument("--data-dir", required=True, type=_existing, help="the dataset's folder")
    evaluate.add_argument("--split", help="split to score (default: the dataset's validation split)")
    evaluate.add_argument(
        "--checkpoint", required=True, type=_checkpoint, help="checkpoint folder ('default': the shipped model)"
    )
    _add_vectors_arguments(evaluate)
    evaluate.set_defaults(run=_evaluate)

    predict = commands.add_parser("predict", help="per-utterance predictions as CSV", parents=[common])
    predict.add_argument(
        "--transcripts", type=_existing_file, help="CSV video_id,segment_id,text[,start,end]: text through the model"
    )
    predict.add_argument("--dataset", help="dataset name, with --data-dir and --checkpoint")
    predict.add_argument("--data-dir", type=_existing, help="the dataset's folder")
    predict.add_argument("--split", help="the dataset's split (default: test)")
    predict.add_argument(
        "--checkpoint",
        type=_checkpoint,
        help="checkpoint folder ('default': the shipped model; the default for --transcripts)",
    )
    predict.add_argument(
        "--out", required=True, help="CSV file to write, - for stdout (the label CSV layout, see README)"
    )
    _add_label_arguments(predict)
    _add_vectors_arguments(predict)
    predict.set_defaults(run=_predict)
    return parser


def _add_vectors_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--text-vectors",
        type=_existing_file,
        help="the word vectors the checkpoint was trained on (a recipe's text.vectors; default: GloVe 6B 50d)",
    )
    parser.add_argument("--text-allow-pickle", action="store_true", help="allow loading a pickled gensim .kv file")


def run_guarded(run: Callable[[], int], program: bool = False) -> int:
    """Run a command; expected failures become one line on stderr, never a traceback.

    program: the process ends with the command (the console scripts). Once a signal has ended it,
    a further signal ends the process at once, and threads that a second Ctrl-C cut loose from
    their cleanup do not hold up the exit. A caller in its own process (a notebook, a test) keeps
    its signal handlers and its threads."""
    status = _run_reporting_errors(run, program)
    if program and status >= 128:  # a signal ended it (a folder's run reports its summary first)
        signals_end_the_process()
        exit_now_if_threads_remain(status)
    return status


def _run_reporting_errors(run: Callable[[], int], program: bool) -> int:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    raise_on_termination(program)
    try:
        return run()
    except KeyboardInterrupt as interrupt:  # Ctrl-C; SIGTERM and SIGHUP as Terminated
        return _stopped_by(interrupt, program)
    except _ReaderLeft:  # the reader of --out - left (| head): end quietly, as a shell's SIGPIPE would
        with contextlib.suppress(OSError, ValueError, AttributeError):
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # no second error at exit
        return 128 + signal.SIGPIPE
    except Exception as error:
        interrupt = interrupt_behind(error)
        if interrupt is not None:  # a library reported the interrupt as an error of its own
            return _stopped_by(interrupt, program)
        if isinstance(error, MtmmError):
            print(f"error: {_one_line(str(error))}", file=sys.stderr)
            return 2
        if os.getenv("MTMM_DEBUG"):  # a bug: say so in one line, traceback only on request
            traceback.print_exc()
        message = _one_line(f"unexpected {type(error).__name__}: {error}")
        print(f"error: {message} (MTMM_DEBUG=1 shows the traceback)", file=sys.stderr)
        return 1


class _ReaderLeft(Exception):
    """The reader of `--out -` left before the labels were all written (`| head`)."""


@contextlib.contextmanager
def _reader_may_leave(out: str) -> Iterator[None]:
    """A broken pipe while writing to stdout (`--out -`) is its reader leaving, not an error."""
    try:
        yield
    except BrokenPipeError:
        if out != "-":
            raise
        raise _ReaderLeft from None


def _stopped_by(interrupt: KeyboardInterrupt, program: bool) -> int:
    if program:
        signals_end_the_process()  # a second signal must not cut the message with a traceback
    if isinstance(interrupt, Terminated):
        print(f"error: terminated by {interrupt} (temporary files removed)", file=sys.stderr)
        return interrupt.exit_status
    print("interrupted", file=sys.stderr)
    return 130


def _utterances(count: int) -> str:
    return f"{count} utterance{'' if count == 1 else 's'}"


def _one_line(message: str) -> str:
    return " ".join(message.splitlines())


def main(argv: Sequence[str] | None = None) -> int:
    """`mtmm`; without `argv` (the console script) it reads sys.argv and runs as the program."""
    return run_guarded(lambda: _parsed_and_run(build_parser, argv, lambda args: args.run(args)), argv is None)


def analyze_video(argv: Sequence[str] | None = None) -> int:
    """`analyze-video`; without `argv` (the console script) it reads sys.argv and runs as the program."""
    return run_guarded(lambda: _parsed_and_run(build_analyze_parser, argv, _analyze), argv is None)


def _parsed_and_run(
    build: Callable[[], argparse.ArgumentParser], argv: Sequence[str] | None, run: Callable[[argparse.Namespace], int]
) -> int:
    """Parse the arguments, set up logging and run; inside the guard, so that even a Ctrl-C while
    the parser is built (its imports take a few tenths of a second) is one line, not a traceback."""
    args = build().parse_args(argv)
    configure_logging(args.verbose, args.quiet)
    return run(args)


def build_analyze_parser() -> argparse.ArgumentParser:
    from mtmm_es.pipeline.executor import default_workers
    from mtmm_es.pipeline.formats import FORMATS

    parser = _Parser(
        prog="analyze-video",
        description="Label every utterance of a video (or of every video in a folder) with sentiment, "
        "emotions and sarcasm. Exit status: 0 success, 1 some files of a folder failed (see the run "
        "summary), 2 bad invocation or unreadable single input, 129 hung up (SIGHUP), 130 interrupted (Ctrl-C), "
        "141 the reader of --out - left early, 143 terminated (SIGTERM).",
    )
    add_version_argument(parser)
    add_message_arguments(parser)
    parser.add_argument("media", help="a media file, or a folder of them")
    parser.add_argument("--out", required=True, help="file (or - for stdout) for one input; folder for a folder")
    parser.add_argument(
        "--format",
        choices=FORMATS,
        help="label format (default: from --out's extension, e.g. x.srt -> srt; json when it has none)",
    )
    parser.add_argument("--report", action="store_true", help="also write an HTML report and PNG plots")
    parser.add_argument(
        "--embed-video", action="store_true", help="put a low-resolution copy of the video inside the report"
    )
    parser.add_argument(
        "--checkpoint", type=_checkpoint, help="checkpoint folder ('default', if not given: the shipped model)"
    )
    _add_label_arguments(parser)
    batch = parser.add_argument_group("folders")
    batch.add_argument("--recursive", action="store_true", help="also analyse files in subfolders")
    batch.add_argument("--glob", help="only file names matching this pattern, any case, e.g. '*.mp4'")
    batch.add_argument("--overwrite", action="store_true", help="redo inputs whose outputs are up to date")
    batch.add_argument(
        "--workers", type=_number(int, minimum=1), help=f"parallel worker processes (default: {default_workers()})"
    )
    batch.add_argument("--backend", choices=("local", "ray"), help="where workers run (default: local)")
    batch.add_argument("--ray-address", help="an existing Ray cluster (default: start a local one)")
    add_extraction_arguments(parser)
    return parser


FOLDER_OPTIONS = ("recursive", "glob", "overwrite", "workers", "backend", "ray_address")


def _analyze(args: argparse.Namespace) -> int:
    if Path(args.media).is_dir():
        return _analyze_folder(args)
    if not os.path.lexists(args.media):  # a mistyped folder is "not found", not "a file"
        raise MtmmError("not found", args.media)
    given = [f"--{name.replace('_', '-')}" for name in FOLDER_OPTIONS if getattr(args, name) not in (None, False)]
    if given:
        raise MtmmError(f"{', '.join(given)}: for a folder of inputs, not one file", args.media)
    from mtmm_es.core.files import atomic_write_text, write_stdout
    from mtmm_es.pipeline.analyze import Pipeline
    from mtmm_es.pipeline.destinations import plan_single
    from mtmm_es.pipeline.formats import get_writer

    extraction = extraction_config(args)
    given = extraction.given_files().values()
    plan = plan_single(args.media, args.out, args.format, args.report, args.embed_video, given)
    pipeline = Pipeline(extraction, args.checkpoint, args.emotion_thresholds, args.sarcasm_base_rate)
    result = pipeline.analyze(args.media)
    for warning in result.warnings:
        log.warning("%s: %s", quoted(args.media), warning)
    text = get_writer(plan.format)().render(result)
    if plan.labels is None:
        with _reader_may_leave(args.out):
            write_stdout(text)
        return 0
    atomic_write_text(plan.labels, text)
    if plan.report:
        from mtmm_es.pipeline.report import write_report

        write_report(result, plan.report, embed_video=args.embed_video, ffmpeg=args.ffmpeg, media=args.media)
    overall = result.summary.get("sentiment", {}).get("label", "n/a")
    written = quoted(plan.labels) + (f" and {quoted(plan.report)}" if plan.report else "")
    print(f"{quoted(args.media)}: {_utterances(len(result.utterances))}, overall {overall} -> {written}")
    return 0


def _analyze_folder(args: argparse.Namespace) -> int:
    from mtmm_es.pipeline.batch import BatchOptions, run_batch
    from mtmm_es.pipeline.executor import default_workers

    if args.out == "-":
        raise MtmmError("--out - (stdout) is for one file's labels; give a folder an output folder", args.media)

    options = BatchOptions(
        format=args.format or "json",
        recursive=args.recursive,
        pattern=args.glob,
        overwrite=args.overwrite,
        workers=args.workers or default_workers(),
        report=args.report,
        embed_video=args.embed_video,
        backend=args.backend or "local",
        ray_address=args.ray_address,
    )
    logging.getLogger("mtmm_es.pipeline.analyze").setLevel(logging.WARNING if args.verbose < 1 else logging.DEBUG)
    summary = run_batch(
        args.media,
        args.out,
        options,
        extraction_config(args),
        args.checkpoint,
        args.emotion_thresholds,
        progress=log.isEnabledFor(logging.INFO),  # with -v, or on a terminal (configure_logging)
        sarcasm_base_rate=args.sarcasm_base_rate,
    )
    counts = summary.counts()
    for outcome in summary.outcomes:
        if outcome.status == "failed":
            print(f"failed: {quoted(outcome.input)}: {_one_line(outcome.reason or '')}", file=sys.stderr)
        elif outcome.status == "processed" and outcome.reason:  # its warnings, as a single file's are shown
            log.warning("%s: %s", quoted(outcome.input), _one_line(outcome.reason))
    print(
        f"{counts['processed']} processed, {counts['skipped']} skipped, {counts['failed']} failed"
        f"{' (interrupted)' if summary.interrupted else ''} -> {quoted(args.out)}"
    )
    if summary.interrupted:
        return summary.exit_status
    return 1 if counts["failed"] else 0

"""Command line: `mtmm` (extract, train, evaluate, predict) and `analyze-video`, thin over the Python API."""

from __future__ import annotations

import argparse
import os
import sys
import traceback
from collections.abc import Callable, Sequence

from extractors.errors import MtmmError


def add_extraction_arguments(parser: argparse.ArgumentParser) -> None:
    from extractors.asr import BACKENDS, AsrConfig
    from extractors.visual import VisualConfig
    from pipeline import SegmentationConfig

    asr, segmentation, visual = AsrConfig(), SegmentationConfig(), VisualConfig()
    group = parser.add_argument_group("extraction")
    group.add_argument("--asr", choices=BACKENDS, default=asr.backend)
    group.add_argument("--asr-model", help="faster-whisper: CTranslate2 model dir; openai-whisper: name or .pt")
    group.add_argument("--asr-beam-size", type=int, default=asr.beam_size)
    group.add_argument("--no-vad", action="store_true", help="disable Silero VAD (faster-whisper)")
    group.add_argument("--language", default=asr.language)
    group.add_argument("--pause", type=float, default=segmentation.pause_s, help="pause (s) that ends an utterance")
    group.add_argument("--sentence-split", type=float, default=segmentation.sentence_split_s,
                       help="also cut at sentence ends once an utterance is this long (s)")  # fmt: skip
    group.add_argument("--max-utterance", type=float, default=segmentation.max_duration_s, help="longest utterance (s)")
    group.add_argument("--min-utterance", type=float, default=segmentation.min_duration_s,
                       help="shorter utterances are merged into a neighbour (s)")  # fmt: skip
    group.add_argument("--segments", help="SRT, WebVTT or CSV (start,end[,text]) utterance windows")
    group.add_argument("--text-vectors", help="GloVe .txt, word2vec .bin/.txt or gensim .kv (default: GloVe 6B 50d)")
    group.add_argument("--text-allow-pickle", action="store_true", help="allow loading a pickled gensim .kv file")
    group.add_argument("--acoustic", choices=("covarep", "egemaps"), default="covarep")
    group.add_argument("--face-model", help="MediaPipe Face Landmarker .task with blendshapes")
    group.add_argument("--fps", type=float, default=visual.fps, help="video frames analysed per second")
    group.add_argument("--max-side", type=int, default=visual.max_side, help="frames are scaled to this longer side")
    group.add_argument("--modalities", default="text,acoustic,visual")
    group.add_argument("--ffmpeg", help="ffmpeg binary (default: the one in imageio-ffmpeg)")
    group.add_argument("--no-cache", action="store_true")
    group.add_argument("--cache-dir", help="default: $MTMM_CACHE_DIR or ~/.cache/mtmm-es")


def extraction_config(args: argparse.Namespace):
    """ExtractionConfig from parsed arguments."""
    from extractors.acoustic import AcousticConfig
    from extractors.asr import AsrConfig
    from extractors.text import TextConfig
    from extractors.visual import VisualConfig
    from pipeline import ExtractionConfig, SegmentationConfig

    return ExtractionConfig(
        asr=AsrConfig(
            backend=args.asr,
            model=args.asr_model,
            language=args.language,
            beam_size=args.asr_beam_size,
            vad=not args.no_vad,
        ),
        segmentation=SegmentationConfig(args.pause, args.sentence_split, args.max_utterance, args.min_utterance),
        text=TextConfig(vectors=args.text_vectors, allow_pickle=args.text_allow_pickle),
        acoustic=AcousticConfig(extractor=args.acoustic),
        visual=VisualConfig(model=args.face_model, fps=args.fps, max_side=args.max_side),
        modalities=tuple(m.strip() for m in args.modalities.split(",") if m.strip()),
        segments=args.segments,
        ffmpeg=args.ffmpeg,
        cache=not args.no_cache,
        cache_dir=args.cache_dir,
    )


def _extract(args: argparse.Namespace) -> int:
    from pipeline import FeaturePipeline, write_extraction

    extraction = FeaturePipeline(extraction_config(args)).extract(args.media)
    out = write_extraction(extraction, args.out)
    for warning in extraction.warnings:
        print(f"warning: {args.media}: {warning}", file=sys.stderr)
    print(
        f"{args.media}: {len(extraction.utterances)} utterances, {extraction.media.duration:.1f} s "
        f"in {extraction.timings['total']:.1f} s -> {out}"
    )
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="mtmm", description="Multi-task multimodal emotion and sentiment.")
    commands = parser.add_subparsers(dest="command", required=True)
    extract = commands.add_parser("extract", help="utterances and aligned features of one media file")
    extract.add_argument("media")
    extract.add_argument("--out", required=True, help="folder for utterances.json, features.npz, spec.json")
    add_extraction_arguments(extract)
    extract.set_defaults(run=_extract)
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
    parser = argparse.ArgumentParser(prog="analyze-video", description="Label every utterance of a video.")
    parser.add_argument("media")
    parser.add_argument("--out", required=True)
    parser.parse_args(argv)
    print("error: no trained model is available yet in this version of mtmm-es", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())

"""Pictures of one video's labels: a sentiment/emotion timeline, the CIM attention heatmaps per
modality pair (as the seed paper's Figure 3) and an HTML report embedding them with the transcript."""

from __future__ import annotations

import base64
import html
import io
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from mtmm_es.core.files import atomic_write_bytes, atomic_write_text  # noqa: E402
from mtmm_es.core.labels import VideoResult  # noqa: E402

EMOTION_COLOURS = {
    "anger": "#d62728",
    "disgust": "#8c564b",
    "fear": "#9467bd",
    "happy": "#2ca02c",
    "sad": "#1f77b4",
    "surprise": "#ff7f0e",
}


def _png(figure) -> bytes:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=110, bbox_inches="tight")
    plt.close(figure)
    return buffer.getvalue()


def timeline_png(result: VideoResult) -> bytes:
    """Utterances as bars coloured by P(positive), emotion scores and sarcasm over time."""
    figure, (bars, curves, sarcasm) = plt.subplots(
        3, 1, figsize=(11, 6.5), sharex=True, gridspec_kw={"height_ratios": [1.2, 2, 1]}
    )
    colour_map = plt.get_cmap("RdYlGn")
    duration = max(result.source.duration, max((u.end for u in result.utterances), default=1.0))
    for u in result.utterances:
        p = u.sentiment.p_positive if u.sentiment else 0.5
        bars.barh(0, u.end - u.start, left=u.start, color=colour_map(p), edgecolor="black", linewidth=0.5)
        bars.text((u.start + u.end) / 2, 0, str(u.index), ha="center", va="center", fontsize=8)
    bars.set_yticks([])
    bars.set_title("utterances (colour: P(positive), red 0 .. green 1)", fontsize=10)
    figure.colorbar(plt.cm.ScalarMappable(cmap=colour_map), cax=bars.inset_axes([1.01, 0.0, 0.015, 1.0]))
    mids = [(u.start + u.end) / 2 for u in result.utterances]
    if any(u.emotions for u in result.utterances):
        for name, colour in EMOTION_COLOURS.items():
            scores = [u.emotions.scores[name] if u.emotions else np.nan for u in result.utterances]
            curves.plot(mids, scores, "o-", color=colour, label=name)
        curves.legend(fontsize=8, loc="center left", bbox_to_anchor=(1.01, 0.5))
    curves.set_ylim(0, 1)
    curves.set_ylabel("emotion score")
    if any(u.sarcasm for u in result.utterances):
        sarcasm.bar(
            mids,
            [u.sarcasm.p if u.sarcasm else 0.0 for u in result.utterances],
            width=[max(u.end - u.start, 0.2) for u in result.utterances],
            color="#7f7f7f",
        )
    sarcasm.set_ylim(0, 1)
    sarcasm.set_ylabel("P(sarcasm)")
    sarcasm.set_xlabel("time (s)")
    sarcasm.set_xlim(0, duration)
    return _png(figure)


def attention_png(pair: str, weights: np.ndarray) -> bytes:
    """The two u x u attention matrices of a modality pair side by side (Figure 3 style)."""
    first, second = pair.split("-")
    n = weights.shape[-1]
    figure, axes = plt.subplots(1, 2, figsize=(3.5 + 1.0 * n, 1.8 + 0.45 * n), gridspec_kw={"wspace": 0.45})
    for axis, matrix, (query, key) in zip(axes, weights, ((first, second), (second, first))):
        image = axis.imshow(matrix, cmap="viridis", vmin=0, vmax=1)
        axis.set_title(f"{query} attends over {key}", fontsize=9)
        axis.set_xlabel(f"context utterance j ({key})", fontsize=8)
        axis.set_ylabel(f"utterance i ({query})", fontsize=8)
        axis.set_xticks(range(n), [f"u{j + 1}" for j in range(n)], fontsize=7)
        axis.set_yticks(range(n), [f"u{i + 1}" for i in range(n)], fontsize=7)
    figure.colorbar(image, ax=axes, fraction=0.03)
    figure.suptitle(f"CIM attention, {pair}", fontsize=10)
    return _png(figure)


def _img(png: bytes, alt: str) -> str:
    return f'<img alt="{html.escape(alt)}" src="data:image/png;base64,{base64.b64encode(png).decode()}">'


def _row(u) -> str:
    p = u.sentiment.p_positive if u.sentiment else 0.5
    red, green = int(255 * (1 - p)), int(255 * p)
    sentiment = f"{u.sentiment.label} ({u.sentiment.score:+.2f})" if u.sentiment else ""
    emotions = ", ".join(u.emotions.labels) if u.emotions else ""
    sarcasm = f"{u.sarcasm.p:.2f}" if u.sarcasm else ""
    return (
        f"<tr><td>{u.index}</td><td>{u.start:.2f}&ndash;{u.end:.2f}</td><td>{html.escape(u.text)}</td>"
        f'<td style="background: rgba({red},{green},80,0.35)">{sentiment}</td><td>{emotions}</td><td>{sarcasm}</td></tr>'
    )


def write_report(result: VideoResult, html_path: str | Path) -> list[Path]:
    """Write `html_path` (self-contained) and the PNGs next to it; returns every path written."""
    html_path = Path(html_path)
    stem = html_path.name.removesuffix(".html")
    pictures = {f"{stem}.timeline.png": timeline_png(result)}
    for pair, weights in sorted(result.attention.items()):
        pictures[f"{stem}.attention.{pair}.png"] = attention_png(pair, weights)
    written = []
    for name, png in pictures.items():
        atomic_write_bytes(html_path.parent / name, png)
        written.append(html_path.parent / name)
    summary = result.summary.get("sentiment", {})
    document = f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{html.escape(Path(result.source.path).name)} - MTMM-ES</title>
<style>body{{font-family:sans-serif;max-width:1100px;margin:2em auto}} table{{border-collapse:collapse;width:100%}}
td,th{{border:1px solid #ccc;padding:4px 6px;font-size:14px;vertical-align:top}} img{{max-width:100%}}</style></head>
<body><h1>{html.escape(Path(result.source.path).name)}</h1>
<p>{result.summary["utterances"]} utterances, {result.source.duration:.1f} s; overall
<b>{html.escape(str(summary.get("label", "n/a")))}</b> (P(positive) {summary.get("p_positive", float("nan")):.2f});
model: {html.escape(str(result.model.recipe or result.model.checkpoint))}, modalities used: {", ".join(result.model.modalities)}.</p>
{"".join(f'<p class="warning">warning: {html.escape(w)}</p>' for w in result.warnings)}
<h2>Timeline</h2>{_img(pictures[f"{stem}.timeline.png"], "timeline")}
<h2>Transcript</h2><table><tr><th>#</th><th>time (s)</th><th>text</th><th>sentiment</th><th>emotions</th><th>P(sarcasm)</th></tr>
{"".join(_row(u) for u in result.utterances)}</table>
<h2>Contextual inter-modal attention</h2><p>Cell (i, j): the weight utterance j gets when utterance i is classified.</p>
{"".join(_img(png, name) for name, png in pictures.items() if ".attention." in name)}
</body></html>
"""
    atomic_write_text(html_path, document)
    return [html_path, *written]

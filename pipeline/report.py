"""Report of one video's labels: an interactive, self-contained HTML page (no network resources)
with the video, labelled subtitles, the transcript by speaker, a sentiment/emotion timeline with a
moving cursor (one lane per speaker) and the CIM attention heatmaps (as the seed paper's Figure 3)
on demand; plus PNG pictures and a WebVTT file of the labels next to it.

The page plays the source video through a relative link (keep the two side by side), or an
embedded low-resolution WebM copy (`embed_video=True`; VP8 + Opus play in every Chromium build).
"""

from __future__ import annotations

import base64
import html
import io
import json
import math
import os
import subprocess
import tempfile
from pathlib import Path
from urllib.parse import quote

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from mtmm_es.core.errors import MtmmError  # noqa: E402
from mtmm_es.core.files import atomic_write_bytes, atomic_write_text  # noqa: E402
from mtmm_es.core.labels import UtteranceResult, VideoResult  # noqa: E402

from .destinations import refuse_overwriting, report_files  # noqa: E402
from .formats import caption, get_writer, label_parts  # noqa: E402

EMOTION_COLOURS = {
    "anger": "#d62728",
    "disgust": "#8c564b",
    "fear": "#9467bd",
    "happy": "#2ca02c",
    "sad": "#1f77b4",
    "surprise": "#ff7f0e",
}
NO_SENTIMENT = "#bbbbbb"  # an utterance without a sentiment label: grey, no number
SPEAKER_COLOURS = ("#4e79a7", "#f28e2b", "#59a14f", "#e15759", "#b07aa1", "#76b7b2", "#edc948", "#9c755f")
EMBED_HEIGHT = 240  # pixels of the embedded copy
MAX_ATTENTION_INCHES = 24.0  # the attention figure's matrices stop growing here (a long video's would not fit memory)
MAX_TICKS = 40  # utterances named along each side of an attention matrix


def _png(figure) -> bytes:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=110, bbox_inches="tight")
    plt.close(figure)
    return buffer.getvalue()


def _language_note(result: VideoResult) -> str:
    """The spoken language for the summary line (", in es (identified, 0.97)"), or nothing."""
    code, probability = result.source.language, result.source.language_probability
    if not code:
        return ""
    how = "given" if probability is None else f"identified, {probability:.2f}"
    return f", in {html.escape(code)} ({how})"


def _duration(result: VideoResult) -> float:
    return max(result.source.duration, max((u.end for u in result.utterances), default=0.0), 1e-3)


def timeline_png(result: VideoResult) -> bytes:
    """Utterances as bars coloured by P(positive), emotion scores and sarcasm over time."""
    figure, (bars, curves, sarcasm) = plt.subplots(
        3, 1, figsize=(11, 6.5), sharex=True, gridspec_kw={"height_ratios": [1.2, 2, 1]}
    )
    colour_map = plt.get_cmap("RdYlGn")
    lanes = _speakers(result)
    for u in result.utterances:
        colour = colour_map(u.sentiment.p_positive) if u.sentiment else NO_SENTIMENT
        lane = lanes.index(u.speaker if u.speaker in lanes else None)
        bars.barh(lane, u.end - u.start, left=u.start, color=colour, edgecolor="black", linewidth=0.5)
        bars.text((u.start + u.end) / 2, lane, str(u.index), ha="center", va="center", fontsize=8)
    bars.set_yticks(range(len(lanes)), [s or "" for s in lanes])
    bars.invert_yaxis()
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
    sarcasm.set_xlim(0, _duration(result))
    return _png(figure)


def attention_png(pair: str, weights: np.ndarray) -> bytes:
    """The two u x u attention matrices of a modality pair side by side (Figure 3 style): an inch
    per utterance up to MAX_ATTENTION_INCHES, a tick for each of at most MAX_TICKS utterances."""
    first, second = pair.split("-")
    n = weights.shape[-1]
    inches = min(1.0 * n, MAX_ATTENTION_INCHES)
    figure, axes = plt.subplots(1, 2, figsize=(3.5 + inches, 1.8 + 0.45 * inches), gridspec_kw={"wspace": 0.45})
    ticks, names = attention_ticks(n)
    for axis, matrix, (query, key) in zip(axes, weights, ((first, second), (second, first))):
        image = axis.imshow(matrix, cmap="viridis", vmin=0, vmax=1)
        axis.set_title(f"{query} attends over {key}", fontsize=9)
        axis.set_xlabel(f"context utterance j ({key})", fontsize=8)
        axis.set_ylabel(f"utterance i ({query})", fontsize=8)
        axis.set_xticks(ticks, names, fontsize=7)
        axis.set_yticks(ticks, names, fontsize=7)
    figure.colorbar(image, ax=axes, fraction=0.03)
    figure.suptitle(f"CIM attention, {pair}", fontsize=10)
    return _png(figure)


def attention_ticks(n: int) -> tuple[list[int], list[str]]:
    """Tick positions and names of an attention plot over n utterances: at most MAX_TICKS, named as
    the labels' `index` and the timeline number them (#0 first)."""
    ticks = list(range(0, n, math.ceil(n / MAX_TICKS)))
    return ticks, [f"#{k}" for k in ticks]


def _speakers(result: VideoResult) -> list[str | None]:
    """Lanes of the timeline: the speakers in label order, then an unnamed lane for utterances
    without a speaker (a --segments window with no voice), or that lane alone."""
    named = list(result.summary.get("speakers", {}))
    unnamed = not named or any(u.speaker not in named for u in result.utterances)
    return [*named, None] if unnamed else named


def _sentiment_colour(p: float | None) -> str:
    """Red (negative) to green (positive); grey where the utterance has no sentiment label."""
    if p is None:
        return NO_SENTIMENT
    red, green = int(215 * (1 - p) + 30), int(180 * p + 40)
    return f"rgb({red},{green},70)"


def _p_positive(u: UtteranceResult) -> str:
    return f"{u.sentiment.p_positive:.2f}" if u.sentiment else "n/a (no sentiment label)"


def _base_rate_note(result: VideoResult) -> str:
    rate = result.model.sarcasm_base_rate
    return "" if rate is None else f"; P(sarcasm) at a {100 * rate:.3g}% base rate of sarcasm"


def timeline_svg(result: VideoResult, width: int = 1000) -> str:
    """Inline SVG: one lane per speaker (utterances coloured by P(positive)), emotion score lines
    below, and a cursor line (#cursor) the page's script moves with the video."""
    duration = _duration(result)
    lanes = _speakers(result)
    lane_h, gap, left = 26, 4, 40
    plot_w = width - left - 10
    lanes_h = len(lanes) * (lane_h + gap)
    curve_h = 110 if any(u.emotions for u in result.utterances) else 0
    height = lanes_h + curve_h + 22

    def x(t: float) -> float:
        return round(left + plot_w * t / duration, 2)

    parts = [
        f'<svg id="timeline" viewBox="0 0 {width} {height}" width="100%" data-left="{left}" data-plot-width="{plot_w}"'
        f' data-duration="{duration}" role="img" aria-label="sentiment and emotion timeline">'
    ]
    for k, name in enumerate(lanes):
        y = k * (lane_h + gap)
        parts.append(f'<text x="2" y="{y + 17}" class="lane">{html.escape(name or "")}</text>')
        parts.append(f'<rect x="{left}" y="{y}" width="{plot_w}" height="{lane_h}" class="lane-bg"/>')
    for u in result.utterances:
        lane = lanes.index(u.speaker if u.speaker in lanes else None)
        p = u.sentiment.p_positive if u.sentiment else None
        label = f"#{u.index} {u.speaker or ''} {u.start:.1f}-{u.end:.1f} s: P(positive) {_p_positive(u)}"
        parts.append(
            f'<rect class="seg" data-index="{u.index}" x="{x(u.start)}" y="{lane * (lane_h + gap) + 2}"'
            f' width="{max(x(u.end) - x(u.start), 1.5)}" height="{lane_h - 4}" fill="{_sentiment_colour(p)}">'
            f"<title>{html.escape(label)}</title></rect>"
        )
    if curve_h:
        base = lanes_h + curve_h - 6
        for name, colour in EMOTION_COLOURS.items():
            points = " ".join(
                f"{x((u.start + u.end) / 2)},{round(base - (curve_h - 12) * u.emotions.scores[name], 2)}"
                for u in result.utterances
                if u.emotions
            )
            parts.append(
                f'<polyline class="emotion" points="{points}" stroke="{colour}"><title>{name}</title></polyline>'
            )
        legend = " ".join(f'<tspan fill="{colour}">&#9632; {name}</tspan>' for name, colour in EMOTION_COLOURS.items())
        parts.append(f'<text x="{left}" y="{height - 4}" class="legend">{legend} (emotion scores, 0..1)</text>')
    parts.append(f'<line id="cursor" x1="{left}" x2="{left}" y1="0" y2="{height - 16}"/>')
    parts.append("</svg>")
    return "".join(parts)


def _utterance_item(u: UtteranceResult, speakers: list[str | None]) -> str:
    labels = label_parts(u, score_digits=2)
    face = f' <span class="face">face {u.face.track} ({u.face.confidence:.2f})</span>' if u.face else ""
    colour = SPEAKER_COLOURS[speakers.index(u.speaker) % len(SPEAKER_COLOURS)] if u.speaker in speakers else "#888"
    speaker = f'<span class="speaker" style="background:{colour}">{html.escape(u.speaker)}</span> ' if u.speaker else ""
    p = u.sentiment.p_positive if u.sentiment else None
    original = f'<div class="original">original: {html.escape(u.source_text)}</div>' if u.source_text else ""
    return (
        f'<li class="utt" data-index="{u.index}" data-start="{u.start}" data-end="{u.end}"'
        f' style="border-left-color:{_sentiment_colour(p)}">'
        f'<span class="time">{u.start:.1f}&ndash;{u.end:.1f}</span> {speaker}{html.escape(u.text)}{original}'
        f'<div class="labels">{html.escape(" | ".join(labels))}{face}</div></li>'
    )


def _speaker_rows(result: VideoResult) -> str:
    rows = []
    for name, s in result.summary.get("speakers", {}).items():
        sentiment = s.get("sentiment")
        overall = f"{sentiment['label']} {sentiment['score']:+.2f}" if sentiment else "n/a"
        emotions = {k: v for k, v in s.get("emotions", {}).get("mean_scores", {}).items() if k != "none"}  # not one
        top = ", ".join(f"{k} {v:.2f}" for k, v in sorted(emotions.items(), key=lambda kv: -kv[1])[:3])
        rows.append(
            f"<tr><td>{html.escape(name)}</td><td>{s['utterances']}</td><td>{s['talk_time']:.1f} s"
            f" ({100 * s['talk_share']:.0f} %)</td><td>{html.escape(overall)}</td><td>{html.escape(top)}</td></tr>"
        )
    if not rows:
        return ""
    return (
        "<h2>Speakers</h2><table><tr><th>speaker</th><th>utterances</th><th>talk time</th><th>sentiment</th>"
        f"<th>strongest emotions (mean score)</th></tr>{''.join(rows)}</table>"
    )


def embedded_video(source: str | Path, ffmpeg: str | None = None, audio_stream: int | None = None) -> str:
    """A data: URI of a low-resolution WebM (VP8 + Opus) copy of `source`, with its audio stream
    `audio_stream` (0-based among its audio streams: the one the labels heard) when it has several."""
    import imageio_ffmpeg

    from .media import ffmpeg_url

    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "copy.webm"
        command = [ffmpeg or imageio_ffmpeg.get_ffmpeg_exe(), "-v", "error", "-y", "-i", ffmpeg_url(Path(source))]
        if audio_stream is not None:
            command += ["-map", "0:v:0?", "-map", f"0:a:{audio_stream}"]
        command += ["-vf", f"scale=-2:{EMBED_HEIGHT}", "-c:v", "libvpx", "-deadline", "realtime", "-cpu-used", "8"]
        command += ["-b:v", "300k", "-c:a", "libopus", "-b:a", "32k", "-ac", "1", str(out)]
        done = subprocess.run(command, capture_output=True, text=True)
        if done.returncode != 0:
            raise MtmmError(f"cannot make the report's video copy: {done.stderr.strip()[-300:]}", source)
        return "data:video/webm;base64," + base64.b64encode(out.read_bytes()).decode()


def _video_link(source: str, html_path: Path) -> str:
    """The source as a URL relative to the report's folder."""
    relative = os.path.relpath(Path(source).resolve(), html_path.resolve().parent)
    return quote(os.fsencode(Path(relative).as_posix()))  # a name's own bytes, UTF-8 or not


def _cues(result: VideoResult) -> list[dict]:
    """The page's subtitles; VTTCue reads its text as markup, so &, < and > are written as entities."""
    return [{"start": u.start, "end": u.end, "text": html.escape(caption(u), quote=False)} for u in result.utterances]


SCRIPT = """
(function () {
  const video = document.getElementById("video");
  const items = Array.from(document.querySelectorAll("#utterances .utt"));
  const segs = Array.from(document.querySelectorAll("#timeline .seg"));
  const svg = document.getElementById("timeline");
  const cursor = document.getElementById("cursor");
  const left = +svg.dataset.left, width = +svg.dataset.plotWidth, duration = +svg.dataset.duration;
  const cues = JSON.parse(document.getElementById("cues").textContent);
  let current = -2;
  function addSubtitles() {
    const track = video.addTextTrack("subtitles", "labels", "en");
    for (const c of cues) track.addCue(new VTTCue(c.start, c.end, c.text));
    track.mode = "showing";
  }
  function indexAt(t) {
    for (const item of items) {
      if (t >= +item.dataset.start && t < +item.dataset.end) return +item.dataset.index;
    }
    return -1;
  }
  function update() {
    const t = video.currentTime;
    const x = left + width * Math.min(t, duration) / duration;
    cursor.setAttribute("x1", x);
    cursor.setAttribute("x2", x);
    document.getElementById("clock").textContent = t.toFixed(1) + " s";
    const index = indexAt(t);
    if (index === current) return;
    current = index;
    for (const el of items.concat(segs)) el.classList.toggle("current", +el.dataset.index === index);
    const item = items.find((el) => +el.dataset.index === index);
    if (item) item.scrollIntoView({block: "nearest"});
    document.body.dataset.current = index;
  }
  function seek(t) {
    video.currentTime = t;
    update();
  }
  function tick() {
    update();
    if (!video.paused) requestAnimationFrame(tick);
  }
  for (const item of items) item.addEventListener("click", () => seek(+item.dataset.start + 0.01));
  for (const seg of segs) seg.addEventListener("click", (e) => { e.stopPropagation(); seek(+items[+seg.dataset.index].dataset.start + 0.01); });
  svg.addEventListener("click", (e) => {
    const box = svg.getBoundingClientRect();
    const x = (e.clientX - box.left) * svg.viewBox.baseVal.width / box.width;
    seek(Math.max(0, Math.min(duration, (x - left) / width * duration)));
  });
  video.addEventListener("timeupdate", update);
  video.addEventListener("seeked", update);
  video.addEventListener("play", () => requestAnimationFrame(tick));
  video.addEventListener("error", () => { document.getElementById("video-error").hidden = false; });
  addSubtitles();
  update();
})();
"""

STYLE = """
body{font-family:sans-serif;max-width:1200px;margin:1.5em auto;color:#222}
.top{display:flex;gap:16px;align-items:flex-start}
.player{flex:0 0 46%} video{width:100%;max-height:360px;background:#000}
video::cue{font-size:70%}
#utterances{flex:1;max-height:400px;overflow-y:auto;margin:0;padding:0;list-style:none}
.utt{border-left:6px solid #ccc;padding:4px 8px;margin:0 0 4px 0;cursor:pointer;background:#fafafa;font-size:14px}
.utt:hover{background:#eef}
.utt.current{background:#ffe9a8;outline:2px solid #e0a800}
.time{color:#666;font-size:12px} .labels{color:#555;font-size:12px} .original{color:#666;font-style:italic;font-size:13px} .face{color:#777}
.speaker{color:#fff;border-radius:3px;padding:0 4px;font-size:12px;font-weight:bold}
#timeline{margin-top:12px;cursor:crosshair} #timeline .lane{font-size:12px} #timeline .lane-bg{fill:#f3f3f3}
#timeline .seg{stroke:#333;stroke-width:.5;cursor:pointer} #timeline .seg.current{stroke:#000;stroke-width:2.5}
#timeline .emotion{fill:none;stroke-width:1.5} #timeline .legend{font-size:11px}
#cursor{stroke:#000;stroke-width:2}
table{border-collapse:collapse;width:100%} td,th{border:1px solid #ccc;padding:4px 6px;font-size:14px;text-align:left}
img{max-width:100%} .warning{color:#a40} #clock{font-variant-numeric:tabular-nums;color:#444}
"""


def write_report(
    result: VideoResult,
    html_path: str | Path,
    embed_video: bool = False,
    ffmpeg: str | None = None,
    media: str | Path | None = None,
) -> list[Path]:
    """Write `html_path`, its PNG pictures and a WebVTT of the labels next to it; returns every path
    written. embed_video: put a low-resolution copy of the video inside the page instead of linking
    to the source. media: the analysed file (default: the labels' source path, which spells a name
    that is not UTF-8 with escapes)."""
    html_path = Path(html_path)
    segmentation = result.extractors.get("segmentation") or {}
    given = segmentation.get("method") == "segments" and segmentation["source"] != "given"  # "given": no file
    inputs = [media or result.source.path, *([segmentation["source"]] if given else [])]
    for written in report_files(html_path):
        refuse_overwriting(written, inputs, "the report (its page, subtitles or pictures)")
    stem = html_path.name.removesuffix(".html")
    pictures = {f"{stem}.timeline.png": timeline_png(result)}
    for pair, weights in sorted(result.attention.items()):
        pictures[f"{stem}.attention.{pair}.png"] = attention_png(pair, weights)
    written = [html_path]
    for name, png in pictures.items():
        atomic_write_bytes(html_path.parent / name, png)
        written.append(html_path.parent / name)
    vtt = html_path.parent / f"{stem}.vtt"
    atomic_write_text(vtt, get_writer("vtt")().render(result))
    written.append(vtt)
    source = str(media or result.source.path)
    video_src = (
        embedded_video(source, ffmpeg, result.source.audio_stream) if embed_video else _video_link(source, html_path)
    )
    speakers = _speakers(result)
    summary = result.summary.get("sentiment", {})
    title = html.escape(Path(result.source.path).name)
    attention = "".join(
        f'<img alt="{html.escape(name)}" src="data:image/png;base64,{base64.b64encode(png).decode()}">'
        for name, png in pictures.items()
        if ".attention." in name
    )
    cues = json.dumps(_cues(result), ensure_ascii=False).replace("</", "<\\/")
    document = f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{title} - MTMM-ES</title>
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; img-src data:; media-src * data: file:; style-src 'unsafe-inline'; script-src 'unsafe-inline'">
<style>{STYLE}</style></head>
<body data-current="-1"><h1>{title}</h1>
<p>{result.summary["utterances"]} utterances, {result.source.duration:.1f} s{_language_note(result)}, {len([s for s in speakers if s])} speaker(s); overall
<b>{html.escape(str(summary.get("label", "n/a")))}</b>{f" (P(positive) {summary['p_positive']:.2f})" if summary else ""};
model: {html.escape(str(result.model.recipe or result.model.checkpoint))} (features: {", ".join(result.model.modalities)}; what each utterance used is in the labels){_base_rate_note(result)}.
Click an utterance or the timeline to seek; subtitles carry the labels ({html.escape(vtt.name)} beside this page).</p>
{"".join(f'<p class="warning">warning: {html.escape(w)}</p>' for w in result.warnings)}
<div class="top"><div class="player"><video id="video" controls preload="metadata" src="{html.escape(video_src)}"></video>
<p id="video-error" class="warning" hidden>The video cannot be played here: keep it beside this page, or write the
report with an embedded copy (analyze-video --report --embed-video).</p><div id="clock">0.0 s</div></div>
<ol id="utterances">{"".join(_utterance_item(u, speakers) for u in result.utterances)}</ol></div>
{timeline_svg(result)}
{_speaker_rows(result)}
<details id="attention"><summary>Contextual inter-modal attention heatmaps</summary>
<p>Cell (i, j): the weight utterance j gets when utterance i is classified.</p>{attention}</details>
<script type="application/json" id="cues">{cues}</script>
<script>{SCRIPT}</script>
</body></html>
"""
    atomic_write_text(html_path, document)
    return written

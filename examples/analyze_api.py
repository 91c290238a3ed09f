"""The Python API: analyse files with the default model, look at the results, write outputs.

python examples/analyze_api.py [MEDIA ...]     (default: the repository's fixture clip)
"""

import sys
from pathlib import Path

from mtmm_es.core.errors import MtmmError
from mtmm_es.pipeline import ExtractionConfig
from mtmm_es.pipeline.analyze import Pipeline
from mtmm_es.pipeline.formats import render
from mtmm_es.pipeline.report import write_report

root = Path(__file__).resolve().parents[1]
paths = sys.argv[1:] or [str(root / "tests/fixtures/talking_head.mp4")]

pipeline = Pipeline(ExtractionConfig())  # loads the models once; reuse it for many files
for path, result in zip(paths, pipeline.analyze_many(paths, workers=1)):
    if isinstance(result, MtmmError):  # a bad file does not stop the others
        print(f"failed: {result}")
        continue
    print(result.summary)
    print(result.to_dataframe()[["start", "end", "sentiment", "p_positive", "emotions", "p_sarcasm", "text"]])
    out = Path("out") / Path(path).name  # talk.mp4 -> out/talk.mp4.json, as folder runs name outputs
    out.parent.mkdir(exist_ok=True)  # (a.mp4 and a.flv no longer overwrite each other's outputs)
    Path(f"{out}.json").write_text(result.to_json())
    Path(f"{out}.srt").write_text(render(result, "srt"))
    print("report:", write_report(result, Path(f"{out}.html"))[0])

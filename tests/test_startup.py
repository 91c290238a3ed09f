"""What a cold start must not pay for: imports a fresh interpreter should not make (issue 8, start-up).
Each check runs in a new Python process, so modules other tests loaded do not count."""

from __future__ import annotations

import os
import subprocess
import sys


def fresh(code: str, **env: str) -> str:
    """stdout of `code` in a new interpreter whose environment has no OMP_WAIT_POLICY but `env`'s
    (this test process imported mtmm_es, which set it)."""
    environment = {k: v for k, v in os.environ.items() if k != "OMP_WAIT_POLICY"} | env
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, env=environment)
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


def test_checkpoint_config_is_read_without_torch():
    out = fresh(
        "import sys; from mtmm_es.model.meta import read_meta; from mtmm_es.pipeline.analyze import "
        "default_checkpoint_dir; meta = read_meta(default_checkpoint_dir()); "
        "print(sorted(meta['feature_spec']), 'torch' in sys.modules)"
    )
    assert out.endswith("False") and "text" in out


def test_mediapipe_loads_without_drawing_and_audio_which_still_work_when_used():
    out = fresh(
        "import sys; from mtmm_es.extractors.visual import import_mediapipe; import_mediapipe(); "
        "from mediapipe.tasks.python import vision; "
        "print('matplotlib' in sys.modules, 'sounddevice' in sys.modules); "
        "from mediapipe.tasks.python import audio; from mediapipe.tasks.python.vision import drawing_utils; "
        "print(audio.AudioClassifier.__name__, drawing_utils.draw_landmarks.__name__)"
    )
    assert out.splitlines() == ["False False", "AudioClassifier draw_landmarks"]


def test_single_file_help_does_not_import_the_folder_runner():
    out = fresh(
        "import sys; from mtmm_es import cli; cli.build_analyze_parser(); "
        "print('mtmm_es.pipeline.batch' in sys.modules, 'torch' in sys.modules)"
    )
    assert out == "False False"


def test_openmp_threads_sleep_when_idle_unless_the_user_says_otherwise():
    """Two OpenMP runtimes (CTranslate2's and torch's) spinning against each other slowed speaker
    diarization tenfold on two cores."""
    code = "import os, mtmm_es; print(os.environ['OMP_WAIT_POLICY'])"
    assert fresh(code) == "PASSIVE"
    assert fresh(code, OMP_WAIT_POLICY="ACTIVE") == "ACTIVE"


def test_diarization_clusters_without_scikit_learn():
    out = fresh(
        "import sys, numpy as np; from mtmm_es.pipeline.diarize import DiarizationConfig, cluster; "
        "rows = np.random.default_rng(0).standard_normal((8, 4)); "
        "cluster(rows / np.linalg.norm(rows, axis=1, keepdims=True), DiarizationConfig()); "
        "print('sklearn' in sys.modules, 'pandas' in sys.modules)"
    )
    assert out == "False False"


def test_voice_features_do_not_import_librosa():
    """librosa's import (numba, scipy.signal/stats/ndimage) was a third of a short clip's cold start."""
    out = fresh(
        "import sys, numpy as np; from mtmm_es.extractors.acoustic import AcousticConfig, frame_descriptors; "
        "from mtmm_es.extractors.speaker import mel_frames; "
        "y = np.random.default_rng(0).standard_normal(16000).astype(np.float32); "
        "frame_descriptors(y, AcousticConfig()); mel_frames(y); "
        "print(*(m in sys.modules for m in ('librosa', 'numba', 'scipy.signal')))"
    )
    assert out == "False False False"


def test_a_background_load_runs_in_its_named_thread_and_keeps_its_error_for_the_caller():
    import threading

    import pytest

    from mtmm_es.core.background import in_background

    assert (
        in_background(lambda: threading.current_thread().name, thread_name="mtmm-test").result().startswith("mtmm-test")
    )
    failed = in_background(int, "not a number")
    with pytest.raises(ValueError, match="invalid literal"):
        failed.result()  # raised where the result is needed, not in the thread


def test_the_loads_that_import_torch_take_their_turn():
    """CI once aborted ("GradBucket ... already defined"): torch had been initialised twice. That
    happens when two threads import torch at once and Python fails one import half way (shown with
    `import torch` and `import torch.nn.functional` in two threads). The checkpoint's background load
    and the speaker encoder now import inside `deferred_import`, so neither starts while another
    thread holds it (and `Pipeline.analyze` imports the model's modules only once the checkpoint
    has loaded)."""
    out = fresh(
        "import sys, threading, time; from mtmm_es.core.background import deferred_import; "
        "from mtmm_es.extractors.speaker import SpeakerEncoder; from mtmm_es.pipeline.analyze import Pipeline\n"
        "built = []\n"
        "with deferred_import():\n"
        "    pipeline = Pipeline(); encoder = threading.Thread(target=lambda: built.append(SpeakerEncoder()))\n"
        "    encoder.start(); time.sleep(1.0); print('torch' in sys.modules, encoder.is_alive())\n"
        "encoder.join(); print(type(pipeline.checkpoint).__name__, len(built), 'torch' in sys.modules)"
    )
    assert out.splitlines() == ["False True", "Checkpoint 1 True"]


def test_the_public_api_is_what_dir_lists():
    """Regression: `dir(mtmm_es)` listed `Any`, `os` and `importlib`, not `Pipeline` (the names load lazily)."""
    import mtmm_es

    assert dir(mtmm_es) == sorted(mtmm_es.__all__) and "Pipeline" in dir(mtmm_es)
    assert all(getattr(mtmm_es, name) is not None for name in dir(mtmm_es))

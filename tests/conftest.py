"""Test-session set-up: the suite must not depend on the caller's environment.

Runs before any test module imports huggingface_hub or the project, so the values below are what every
test, and every subprocess a test starts, sees unless the test sets its own (with ``monkeypatch``).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

import settings  # noqa: E402  (after the path is set)

# Every variable the project reads, plus the Hub client's switches a developer may have exported
# (HF_HUB_OFFLINE=1 made the fake-Hub tests fail with "OfflineModeIsEnabled").
CALLER_VARIABLES = (
    *(s.name for s in settings.SETTINGS),
    "HF_HUB_OFFLINE",
    "HF_DATASETS_OFFLINE",
    "TRANSFORMERS_OFFLINE",
    "HUGGING_FACE_HUB_TOKEN",
    "HF_HOME",
    "HF_HUB_CACHE",
)
for _name in CALLER_VARIABLES:
    os.environ.pop(_name, None)
os.environ["HF_HUB_DISABLE_TELEMETRY"] = "1"
os.environ["GRADIO_ANALYTICS_ENABLED"] = "False"

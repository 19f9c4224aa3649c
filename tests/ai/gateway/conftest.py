"""Makes the fake LLM servers (tests/ai/fakes) available to these tests."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "fakes"))

from fake_llm import fake_llm  # noqa: F401  (a fixture)

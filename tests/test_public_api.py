"""The public surface, pinned: adding or removing a name is a deliberate change."""

import subprocess
import sys

import lmprog

EXPECTED = ["Budget", "CompiledProgram", "load", "compile", "plan", "evaluate", "Evaluation", "Classify", "InferRetrieveRank", "LabelRetriever", "LabelSpace", "Ledger", "LmprogError",
            "MultiLabelClassify", "Task", "__version__", "errors", "load_examples", "make_lm", "metrics",
            "module_name", "open_ledger", "distill", "Distilled", "Cascade", "load_distilled", "suggest", "audit",
            "estimate"]


def test_exported_names():
    assert sorted(lmprog.__all__) == sorted(EXPECTED)
    for name in EXPECTED:
        assert getattr(lmprog, name) is not None


def test_import_is_lazy():
    code = "import sys, lmprog; print(sorted(m for m in sys.modules if m.split('.')[0] in ('dspy', 'litellm')))"
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip() == "[]"

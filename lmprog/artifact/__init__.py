"""Compiled programs saved as versioned JSON artifacts: :class:`CompiledProgram` and :func:`load`.

An artifact is one JSON object, written deterministically (sorted keys, indent 1, UTF-8, a
trailing newline), so the same program, seed and ledger give a byte-identical file::

    format_version   2 (this lmprog reads 2 and 1; newer is refused)
    kind             "lmprog.compiled_program"
    lmprog_version   dspy_version
    task             name, instructions, multi_label, metric, inputs [{name, description}],
                     labels {hash, and either "embedded": [labels] or "file": {path, name,
                     description, aliases, alias_separator}}
    examples         the labelled examples compiled from (format 2): the floor and distill use them
    program          class (an lmprog module class, or "custom"), custom_class (custom only),
                     params (the module's params(): its constructor options), output (label,
                     label_set or ranking; format 2), predictors {name: {fields, state (DSPy's
                     Predict.dump_state), lm}}
    lm               model and sampling settings; never api keys, base URLs or headers
    optimizer        name, settings, seed (as given)
    candidates       every candidate's id, stage, predictor, instructions, demos, dev score
    dev_score  run_id  budget
    integrity        sha256 of the canonical JSON of everything else

Format 1 (lmprog 0.1) differs only in what a candidate record holds and in having no program.output;
it loads unchanged.
"""

from lmprog.artifact.compiled import CompiledProgram
from lmprog.artifact.document import FORMAT_VERSION, KIND, integrity, is_artifact_file, lm_settings
from lmprog.artifact.loading import from_dict, load

__all__ = ["CompiledProgram", "FORMAT_VERSION", "KIND", "from_dict", "integrity", "is_artifact_file", "lm_settings",
           "load"]

"""One library function per ``lmprog`` command: the CLI parses arguments, calls one of these, and prints
what it returns (a report object that renders itself). Every output path is checked before the work."""

from lmprog.jobs.compiling import CompileResult, TaskSetup, compile_task, plan_task
from lmprog.jobs.distilling import distill_file
from lmprog.jobs.ledger_jobs import browse_ledger, export_ledger, merge_ledgers, read_ledger
from lmprog.jobs.predicting import predict_to_file
from lmprog.jobs.reports import compile_report, evaluate_file, evaluation_report, replay_report

__all__ = ["CompileResult", "TaskSetup", "browse_ledger", "compile_report", "compile_task", "distill_file",
           "evaluate_file", "evaluation_report", "export_ledger", "merge_ledgers", "plan_task", "predict_to_file",
           "read_ledger", "replay_report"]

"""Distillation: a compiled program's answers turned into a cheap scikit-learn classifier, and the
cascade that sends only the inputs the classifier is unsure of back to the program."""

from lmprog.distillation.cascade import Cascade, cascade_curve, choose_threshold
from lmprog.distillation.classifier import Distilled, is_distilled_file, load_distilled
from lmprog.distillation.distill import distill

__all__ = ["Cascade", "Distilled", "cascade_curve", "choose_threshold", "distill", "is_distilled_file", "load_distilled"]

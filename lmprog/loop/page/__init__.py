"""The labelling page: a person answers suggested rows, or reviews audit flags, from the keyboard.

    session = LabelSession.open(task, queue="to_label.jsonl", audit="audit.json")
    serve(session, port=0, ready=print_the_url)     # http://127.0.0.1:PORT/TOKEN/ until interrupted

- :mod:`~lmprog.loop.page.items`: the queue's rows and the audit's flags as items with stable ids;
- :mod:`~lmprog.loop.page.journal`: every answer appended and fsynced before it is applied;
- :mod:`~lmprog.loop.page.labelled`: the labelled file (JSONL, CSV, TSV), appended to or corrected
  idempotently, so a killed server loses no answer and writes none twice;
- :mod:`~lmprog.loop.page.session`: the three together (recovery on open, answers, the page's state);
- :mod:`~lmprog.loop.page.server`: the page on 127.0.0.1 behind a random token, static files only.
"""

from lmprog.loop.page.journal import AnswerJournal, journal_path
from lmprog.loop.page.labelled import LabelledFile
from lmprog.loop.page.server import PageServer, serve
from lmprog.loop.page.session import LabelSession

__all__ = ["AnswerJournal", "LabelSession", "LabelledFile", "PageServer", "journal_path", "serve"]

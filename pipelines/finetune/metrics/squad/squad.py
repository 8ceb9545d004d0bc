"""SQuAD exact match and F1: how well predicted answer spans match the reference answers.

A local `evaluate` module loaded by path (see ../__init__.py); the Hub's "squad" and "squad_v2" need a
network. Keep one import per line: evaluate reads them to find missing packages. Answers are
normalised as the official SQuAD script does (lower case, no punctuation, no articles a/an/the, single
spaces); an example scores the best match over its reference answers. SQuAD v2: an unanswerable
question has no reference answer (an empty list, or [""]), and only the empty prediction matches it.
"""

import collections
import re
import string

import datasets
import evaluate

_DESCRIPTION = """
Exact match: the share of predictions equal to a reference answer after normalisation. F1: the
harmonic mean of precision and recall over the normalised answers' words (bags of words), the best
over the references, averaged over the examples. Both are percentages, as SQuAD reports them.
"""

_KWARGS_DESCRIPTION = """
Args:
    predictions (`list` of `str`): one predicted answer per question; "" predicts "no answer".
    references (`list` of `list` of `str`): the acceptable answers of each question; [] or [""] for
        a question the context does not answer (SQuAD v2).

Returns:
    exact_match (`float`): in [0, 100].
    f1 (`float`): in [0, 100].
    has_answer_f1, no_answer_exact (`float`): the F1 over answerable questions and the exact match over
        unanswerable ones, only when there are unanswerable questions.

Examples:
    >>> from pipelines.finetune.metrics import load_metric
    >>> squad = load_metric("squad")
    >>> squad.compute(predictions=["The Eiffel Tower", "in 1889"], references=[["Eiffel Tower"], ["1887"]])
    {'exact_match': 50.0, 'f1': 50.0}

    "the big red dog" against "a red dog": articles go, so precision 2/3, recall 2/2, F1 0.8.

    >>> squad.compute(predictions=["the big red dog"], references=[["a red dog", "a cat"]])
    {'exact_match': 0.0, 'f1': 80.0}
    >>> squad.compute(predictions=["", "Paris", ""], references=[[], ["Paris"], ["Rome"]])
    {'exact_match': 66.66666666666667, 'f1': 66.66666666666667, 'has_answer_f1': 50.0, 'no_answer_exact': 100.0}
"""

_CITATION = """
@inproceedings{rajpurkar-etal-2016-squad, title={{SQ}u{AD}: 100,000+ Questions for Machine Comprehension
of Text}, author={Rajpurkar, Pranav and Zhang, Jian and Lopyrev, Konstantin and Liang, Percy},
booktitle={EMNLP}, year={2016}}
"""

_ARTICLES = re.compile(r"\b(a|an|the)\b", re.UNICODE)
_PUNCTUATION = set(string.punctuation)


def normalize_answer(text):
    """Lower case, no punctuation, no articles, single spaces: the official SQuAD normalisation."""
    text = "".join(ch for ch in text.lower() if ch not in _PUNCTUATION)
    return " ".join(_ARTICLES.sub(" ", text).split())


def exact_match(prediction, reference):
    return float(normalize_answer(prediction) == normalize_answer(reference))


def f1(prediction, reference):
    predicted, gold = normalize_answer(prediction).split(), normalize_answer(reference).split()
    if not predicted or not gold:  # "no answer" on either side: right only if both say so
        return float(predicted == gold)
    common = sum((collections.Counter(predicted) & collections.Counter(gold)).values())
    if common == 0:
        return 0.0
    precision, recall = common / len(predicted), common / len(gold)
    return 2 * precision * recall / (precision + recall)


def best(score, prediction, references):
    """The example's score: the best over its reference answers ("" when it has none)."""
    return max(score(prediction, reference) for reference in (references or [""]))


@evaluate.utils.file_utils.add_start_docstrings(_DESCRIPTION, _KWARGS_DESCRIPTION)
class Squad(evaluate.Metric):
    def _info(self):
        return evaluate.MetricInfo(
            description=_DESCRIPTION,
            citation=_CITATION,
            inputs_description=_KWARGS_DESCRIPTION,
            features=datasets.Features({"predictions": datasets.Value("string"),
                                        "references": datasets.Sequence(datasets.Value("string"))}),
            reference_urls=["https://rajpurkar.github.io/SQuAD-explorer/"],
        )

    def _compute(self, predictions, references):
        ems = [best(exact_match, p, r) for p, r in zip(predictions, references)]
        f1s = [best(f1, p, r) for p, r in zip(predictions, references)]
        scores = {"exact_match": 100 * sum(ems) / len(ems), "f1": 100 * sum(f1s) / len(f1s)}
        unanswerable = [not any(r) for r in references]
        if any(unanswerable):
            answerable = [f for f, u in zip(f1s, unanswerable) if not u]
            scores["has_answer_f1"] = 100 * sum(answerable) / max(len(answerable), 1)
            no_answer = [e for e, u in zip(ems, unanswerable) if u]
            scores["no_answer_exact"] = 100 * sum(no_answer) / len(no_answer)
        return scores

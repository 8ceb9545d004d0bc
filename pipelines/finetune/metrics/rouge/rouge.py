"""ROUGE-1, ROUGE-2, ROUGE-L and ROUGE-Lsum: how much of a reference summary a generated one recovers.

A local `evaluate` module loaded by path (see ../__init__.py), a thin wrapper of Google's rouge-score
package; the Hub's "rouge" needs a network. Keep one import per line: evaluate reads them to find
missing packages. F-measures, averaged over the examples, in percent (as summarization papers report
them); Porter stemming on, as the CNN/DailyMail and XSum results are computed. ROUGE-Lsum treats each
line of a text as a sentence.
"""

import datasets
import evaluate
from rouge_score import rouge_scorer

_DESCRIPTION = """
ROUGE-N counts the n-grams a prediction shares with its reference (F-measure of n-gram precision and
recall); ROUGE-L uses the longest common subsequence of words; ROUGE-Lsum the union of longest common
subsequences, sentence by sentence (one sentence a line).
"""

_KWARGS_DESCRIPTION = """
Args:
    predictions (`list` of `str`): the generated texts.
    references (`list` of `str`): one reference text per prediction.

Returns:
    rouge1, rouge2, rougeL, rougeLsum (`float`): mean F-measures in [0, 100].

Examples:
    >>> from pipelines.finetune.metrics import load_metric
    >>> rouge = load_metric("rouge")

    "the cat sat on the mat" against "the cat was on the mat": 5 of 6 words shared (unigram F 5/6), 3
    of 5 bigrams ("the cat", "on the", "the mat"), and a common subsequence of 5 words.

    >>> scores = rouge.compute(predictions=["the cat sat on the mat"], references=["the cat was on the mat"])
    >>> {name: round(value, 2) for name, value in scores.items()}
    {'rouge1': 83.33, 'rouge2': 60.0, 'rougeL': 83.33, 'rougeLsum': 83.33}
    >>> rouge.compute(predictions=["Shares rise", ""], references=["shares rising", "Profit falls"])["rouge1"]
    50.0
"""

_CITATION = """
@inproceedings{lin-2004-rouge, title={{ROUGE}: A Package for Automatic Evaluation of Summaries},
author={Lin, Chin-Yew}, booktitle={Text Summarization Branches Out}, year={2004}, pages={74--81}}
"""

NAMES = ("rouge1", "rouge2", "rougeL", "rougeLsum")


def scores(prediction, reference, scorer=None):
    """One example's F-measures in [0, 1], by name."""
    scorer = scorer or rouge_scorer.RougeScorer(list(NAMES), use_stemmer=True)
    return {name: score.fmeasure for name, score in scorer.score(reference, prediction).items()}


@evaluate.utils.file_utils.add_start_docstrings(_DESCRIPTION, _KWARGS_DESCRIPTION)
class Rouge(evaluate.Metric):
    def _info(self):
        return evaluate.MetricInfo(
            description=_DESCRIPTION,
            citation=_CITATION,
            inputs_description=_KWARGS_DESCRIPTION,
            features=datasets.Features({"predictions": datasets.Value("string"),
                                        "references": datasets.Value("string")}),
            reference_urls=["https://github.com/google-research/google-research/tree/master/rouge"],
        )

    def _compute(self, predictions, references):
        scorer = rouge_scorer.RougeScorer(list(NAMES), use_stemmer=True)
        each = [scores(p, r, scorer) for p, r in zip(predictions, references)]
        return {name: 100 * sum(s[name] for s in each) / len(each) for name in NAMES}

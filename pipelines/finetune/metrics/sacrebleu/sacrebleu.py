"""sacreBLEU and chrF: how close machine translations are to their references, as sacrebleu computes them.

A local `evaluate` module loaded by path (see ../__init__.py), a thin wrapper of the sacrebleu package
(Post 2018); the Hub's "sacrebleu" and "chrf" need a network. Keep one import per line: evaluate
reads them to find missing packages. Both are corpus-level scores in [0, 100] with sacrebleu's
defaults (BLEU: 13a tokenisation, 4-grams; chrF: character 6-grams, beta 2), so they compare with
published figures; chrF is the steadier of the two on a few hundred sentences.
"""

import datasets
import evaluate
import sacrebleu as sacrebleu_package

_DESCRIPTION = """
BLEU: the geometric mean of modified n-gram precisions (n = 1..4) times a brevity penalty. chrF: an
F-score (recall weighted twice) over character n-grams, n = 1..6; it rewards a right word in the wrong
form, which matters for French and German.
"""

_KWARGS_DESCRIPTION = """
Args:
    predictions (`list` of `str`): the translations.
    references (`list` of `str`): one reference translation per prediction.

Returns:
    bleu, chrf (`float`): corpus scores in [0, 100].

Examples:
    >>> from pipelines.finetune.metrics import load_metric
    >>> metric = load_metric("sacrebleu")
    >>> metric.compute(predictions=["le chat est sur la table"], references=["le chat est sur la table"])
    {'bleu': 100.00000000000004, 'chrf': 100.0}

    One word of six differs ("natte" for "table"): 5 of 6 unigrams, 4 of 5 bigrams, 3 of 4 trigrams and
    2 of 3 4-grams match, so BLEU = (5/6 * 4/5 * 3/4 * 2/3) ** (1/4) = 76.0.

    >>> scores = metric.compute(predictions=["le chat est sur la table"], references=["le chat est sur la natte"])
    >>> round(scores["bleu"], 1), round(scores["chrf"], 1)
    (76.0, 72.9)
"""

_CITATION = """
@inproceedings{post-2018-call, title={A Call for Clarity in Reporting {BLEU} Scores}, author={Post, Matt},
booktitle={Proceedings of the Third Conference on Machine Translation}, year={2018}, pages={186--191}}
"""


def sentence_chrf(prediction, reference):
    """One translation's chrF in [0, 100] (sacrebleu's sentence-level score)."""
    return sacrebleu_package.sentence_chrf(prediction, [reference]).score


@evaluate.utils.file_utils.add_start_docstrings(_DESCRIPTION, _KWARGS_DESCRIPTION)
class Sacrebleu(evaluate.Metric):
    def _info(self):
        return evaluate.MetricInfo(
            description=_DESCRIPTION,
            citation=_CITATION,
            inputs_description=_KWARGS_DESCRIPTION,
            features=datasets.Features({"predictions": datasets.Value("string"),
                                        "references": datasets.Value("string")}),
            reference_urls=["https://github.com/mjpost/sacrebleu"],
        )

    def _compute(self, predictions, references):
        return {"bleu": sacrebleu_package.corpus_bleu(predictions, [references]).score,
                "chrf": sacrebleu_package.corpus_chrf(predictions, [references]).score}

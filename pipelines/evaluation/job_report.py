"""An evaluation or a learning curve (pipelines/evaluation/jobs.py) as a report: one self-contained HTML
page and its Markdown, written into the job's folder. The run report's page style, charts and confusion
tables (pipelines/evaluation/report.py) serve here too; `report.write_for` picks this module by the id.
"""

from __future__ import annotations

import html
import platform
import time
from pathlib import Path

from pipelines.evaluation.compare import interval_text
from pipelines.evaluation.report import (CSS, PACKAGES, SHOWN_EXAMPLES, _confusion_section, _glossary, _version,
                                         curve_chart)


def write_job_report(job) -> list[Path]:
    """report.html and report.md in the job's folder; a ValueError before the job has finished."""
    result = job.result()
    if result is None:
        raise ValueError(f"'{job.id}' has not finished yet: a report needs its result.")
    evaluation = result["kind"] == "evaluation"
    page = render_evaluation(job.id, result) if evaluation else render_curve(job.id, result)
    text = markdown_evaluation(job.id, result) if evaluation else markdown_curve(job.id, result)
    written = []
    for name, content in (("report.html", page), ("report.md", text)):
        target = job.path / name
        partial = target.with_suffix(".partial")
        partial.write_text(content, encoding="utf-8")
        partial.replace(target)
        written.append(target)
    return written


def _md(text) -> str:
    """A value inside a Markdown table cell: no pipes or line breaks from the user's data."""
    return " ".join(str(text).replace("|", "\\|").split())


def markdown_evaluation(job_id: str, result: dict) -> str:
    scale, metric = result["points_scale"], result["metric"]
    lines = [f"# Evaluation `{job_id}`", "", f"{result['title']}: {len(result['models'])} model(s) on the same "
             f"{result['rows']:,} labelled rows ({_md(result['source'])}).", "", f"**{result['summary']}**", ""]
    lines += [f"> ⚠️ {w}" for w in result.get("warnings", [])] + [""]
    lines += [f"| model | {metric} (95% CI) | other metrics | rows/s | ms per row |", "|---|---|---|---|---|"]
    lines += [f"| {_md(m['name'])} | {interval_text(m['interval'], scale)} | "
              f"{', '.join(f'{k} {v:.3f}' for k, v in m['metrics'].items() if k != metric)} | {m['rows_per_s']:,.1f} | "
              f"{m['ms_per_row']:.1f} |" for m in result["models"]]
    if result["comparisons"]:
        lines += ["", "| compared | difference (95% CI) | better / worse / same rows | McNemar p |", "|---|---|---|---|"]
        for c in result["comparisons"]:
            t, test = c["tally"], c.get("mcnemar")
            p_value = f"{test['p_value']:.3g}" if test else "–"
            lines.append(f"| {_md(c['names'][1])} vs {_md(c['names'][0])} | {interval_text(c['difference'], scale)} | "
                         f"{t['wins']} / {t['losses']} / {t['ties']} | {p_value} |")
    for m in result["models"]:
        details = m.get("details") or {}
        if "confusion_matrix" in details:
            labels = details["labels"]
            lines += ["", f"Confusion matrix of {_md(m['name'])} (true label down, prediction across):", "",
                      "| | " + " | ".join(map(_md, labels)) + " |", "|---" * (len(labels) + 1) + "|",
                      *(f"| **{_md(label)}** | " + " | ".join(map(str, row)) + " |"
                        for label, row in zip(labels, details["confusion_matrix"]))]
    lines += ["", "Settings: " + ", ".join(f"{k.replace('_', ' ')} {v}" for k, v in result["settings"].items()) + ".",
              "Versions: " + ", ".join(f"{k} {v}" for k, v in result.get("versions", {}).items()) + "."]
    return "\n".join(lines) + "\n"


def markdown_curve(job_id: str, result: dict) -> str:
    scale = result["points_scale"]
    digits = 1 if scale != 1 else 3
    lines = [f"# Learning curve `{job_id}`: {result['base_model']} vs the same architecture from scratch", "",
             f"Fine-tuned on growing subsets of {_md(result['dataset'])} with seeds "
             f"{', '.join(map(str, result['seeds']))}, every model scored on the same {result['held_out_rows'] or 0:,} "
             "held-out rows.", "", f"**{result['summary']}**", ""]
    lines += [f"> ⚠️ {w}" for w in result.get("warnings", [])] + [""]
    lines += [f"| training rows | pretrained {result['metric']}: mean (each seed) | from scratch: mean (each seed) | gap |",
              "|---|---|---|---|"]
    by_size = {init: {p["size"]: p for p in pts} for init, pts in result["curves"].items()}
    gaps = {g["size"]: g["gap"] for g in result["gaps"]}

    def cell(p):
        if p is None:
            return "–"
        return f"{p['mean'] * scale:.{digits}f} ({', '.join(f'{v * scale:.{digits}f}' for v in p['values'])})"

    lines += [f"| {s:,} | {cell(by_size.get('pretrained', {}).get(s))} | {cell(by_size.get('scratch', {}).get(s))} | "
              f"{(f'{gaps[s] * scale:+.{digits}f}') if s in gaps else '–'} |" for s in result["sizes"]]
    lines += ["", "Settings: " + ", ".join(f"{k.replace('_', ' ')} {v}" for k, v in result["settings"].items()) + "."]
    return "\n".join(lines) + "\n"


def _page(title: str, job_id: str, body: list[str]) -> str:
    e = html.escape
    return "\n".join([f"<!doctype html><html lang='en'><head><meta charset='utf-8'><title>{e(title)}</title>",
                      f"<style>{CSS}</style></head><body>", f"<h1>{e(title)}</h1>",
                      f"<p class='muted'>Transfer Studio report, {time.strftime('%Y-%m-%d %H:%M %Z')}; "
                      f"<code>{e(job_id)}</code>.</p>", *body, "</body></html>"])


def render_evaluation(job_id: str, result: dict) -> str:
    e = html.escape
    scale, metric = result["points_scale"], result["metric"]
    names = [m["name"] for m in result["models"]]
    better = "higher" if result["higher_is_better"] else "lower"
    body = ["<h2>In short</h2>",
            f"<p>{len(names)} model(s) answered the same {result['rows']:,} labelled rows ({e(result['source'])}); "
            f"each was scored on its {e(metric)} ({better} is better).</p>",
            f"<p class='lead'>{e(result['summary'])}</p>"]
    body += [f"<div class='warn'>⚠️ {e(w)}</div>" for w in result.get("warnings", [])]
    rows = "".join(f"<tr><td>{e(m['name'])}</td><td class='num'>{interval_text(m['interval'], scale)}</td>"
                   f"<td>{e(', '.join(f'{k} {v:.3f}' for k, v in m['metrics'].items() if k != metric))}</td>"
                   f"<td class='num'>{m['rows_per_s']:,.1f}</td><td class='num'>{m['ms_per_row']:.1f}</td></tr>"
                   for m in result["models"])
    body += ["<h2>Each model</h2>",
             f"<table><tr><th>model</th><th>{e(metric)} (95% interval)</th><th>other metrics</th><th>rows/s</th>"
             f"<th>ms per row</th></tr>{rows}</table>"]
    if result["comparisons"]:
        rows = []
        for c in result["comparisons"]:
            t = c["tally"]
            p = f"{c['mcnemar']['p_value']:.3g}" if c.get("mcnemar") else "–"
            rows.append(f"<tr><td>{e(c['names'][1])} vs {e(c['names'][0])}</td><td class='num'>"
                        f"{interval_text(c['difference'], scale)}</td><td class='num'>{t['wins']} / {t['losses']} / "
                        f"{t['ties']}</td><td class='num'>{p}</td><td>{e(c['summary'])}</td></tr>")
        body += ["<h2>Paired comparison with the first model</h2>",
                 "<table><tr><th>models</th><th>difference (95% interval)</th><th>better / worse / same rows</th>"
                 f"<th>McNemar p</th><th>in words</th></tr>{''.join(rows)}</table>"]
    body += _confusion_section([(m["name"], m.get("details") or {}) for m in result["models"]])
    body += _job_examples(result, names)
    facts = [("task", result["title"]), ("rows", f"{result['rows']:,}"), ("source", result["source"]),
             *((k.replace("_", " "), v) for k, v in result["settings"].items()),
             *result.get("versions", {}).items()]
    body += ["<h2>Data, settings and versions</h2>",
             "<table>" + "".join(f"<tr><th>{e(str(k))}</th><td>{e(str(v))}</td></tr>" for k, v in facts) + "</table>"]
    body += _glossary(result)
    return _page(f"Evaluation: {', '.join(names)}", job_id, body)


def _job_examples(result: dict, names: list[str]) -> list[str]:
    e = html.escape
    examples = result.get("examples", [])
    differ = [x for x in examples if x["disagree"]]
    shown = (differ or examples)[:2 * SHOWN_EXAMPLES]
    if not shown:
        return []
    head = "".join(f"<th>{e(n)}</th>" for n in names)
    rows = "".join(f"<tr><td>{e(x['input'])}</td><td>{e(x['reference'])}</td>"
                   + "".join(f"<td>{e(o)}</td>" for o in x["outputs"]) + "</tr>" for x in shown)
    what = (f"{len(shown)} of the {len(differ):,} rows where the models do differently" if differ
            else f"{len(shown)} of the rows (the models do the same on every row)")
    return ["<h2>Examples side by side</h2>", f"<p class='muted'>{what}.</p>",
            f"<table><tr><th>input</th><th>reference</th>{head}</tr>{rows}</table>"]


def render_curve(job_id: str, result: dict) -> str:
    e = html.escape
    scale = result["points_scale"]
    digits = 1 if scale != 1 else 3
    body = ["<h2>In short</h2>",
            f"<p>The pretrained checkpoint <b>{e(result['base_model'])}</b> and the same architecture with random "
            f"weights were fine-tuned on growing subsets of <b>{e(result['dataset'])}</b> "
            f"({', '.join(f'{s:,}' for s in result['sizes'])} rows), with seeds {', '.join(map(str, result['seeds']))}, "
            f"and every model was scored on the same {result['held_out_rows'] or 0:,} held-out rows.</p>",
            f"<p class='lead'>{e(result['summary'])}</p>"]
    body += [f"<div class='warn'>⚠️ {e(w)}</div>" for w in result.get("warnings", [])]
    body += ["<h2>The learning curve</h2>", curve_chart(result),
             "<p class='muted'>Lines: the mean over seeds; shaded: from the lowest to the highest seed; dots: each "
             "seed" + ("; dashed: the reference, scored once on the same rows" if result.get("reference") else "")
             + ".</p>"]
    by_size = {init: {p["size"]: p for p in pts} for init, pts in result["curves"].items()}
    gaps = {g["size"]: g["gap"] for g in result["gaps"]}

    def cell(p):
        if p is None:
            return "–"
        seeds = ", ".join(f"{v * scale:.{digits}f}" for v in p["values"])
        return f"{p['mean'] * scale:.{digits}f} <span class='muted'>({seeds})</span>"

    rows = "".join(f"<tr><td class='num'>{s:,}</td><td class='num'>{cell(by_size.get('pretrained', {}).get(s))}</td>"
                   f"<td class='num'>{cell(by_size.get('scratch', {}).get(s))}</td><td class='num'>"
                   f"{(f'{gaps[s] * scale:+.{digits}f}') if s in gaps else '–'}</td></tr>" for s in result["sizes"])
    body += [f"<h2>Held-out {e(result['metric'])} per size</h2>",
             "<table><tr><th>training rows</th><th>pretrained: mean (each seed)</th><th>from scratch: mean (each seed)"
             f"</th><th>gap</th></tr>{rows}</table>"]
    settings = [*result["settings"].items(), *((n, _version(n)) for n in PACKAGES),
                ("python", platform.python_version())]
    body += ["<h2>Settings and versions</h2>",
             "<table>" + "".join(f"<tr><th>{e(str(k).replace('_', ' '))}</th><td>{e(str(v))}</td></tr>"
                                 for k, v in settings) + "</table>",
             "<h2>Reading this report</h2><ul><li><b>From scratch</b>: the same network and vocabulary, its weights "
             "random: everything it knows comes from these rows. The gap is what pretraining on large text brought."
             "</li><li><b>Seeds</b> change which rows are drawn for each subset and how training starts; their "
             "spread shows how much a single run can be trusted.</li></ul>"]
    return _page(f"Learning curve: {result['base_model']} vs scratch", job_id, body)

"""A finished run as one self-contained HTML file a stakeholder can open from disk: what was compared,
on what data, the result with its interval in words, the curves, examples side by side, versions.

Everything is inline (CSS, SVG plots), nothing is fetched, and every text from the user's data or
settings is HTML-escaped. The Markdown companion is the model card the run already wrote.
"""

from __future__ import annotations

import html
import math
import importlib.metadata
import platform
import time
from pathlib import Path

from pipelines.evaluation.compare import interval_text
from pipelines.finetune import status
from pipelines.finetune.runs import RunFolder

PACKAGES = ("torch", "transformers", "datasets", "accelerate", "evaluate", "peft", "scikit-learn", "sacrebleu",
            "rouge-score")
SHOWN_EXAMPLES = 12  # the worst of the held-out examples, and as many of the best
CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI",sans-serif;max-width:62rem;margin:2rem auto;padding:0 1rem;
color:#1f2328;line-height:1.45}
h1{font-size:1.6rem;margin-bottom:.2rem}h2{font-size:1.2rem;margin-top:2rem;border-bottom:1px solid #d0d7de}
.lead{font-size:1.15rem;background:#f6f8fa;border-left:4px solid #2f81f7;padding:.7rem 1rem}
.warn{background:#fff8c5;border-left:4px solid #d4a72c;padding:.5rem 1rem;margin:.4rem 0}
table{border-collapse:collapse;margin:.5rem 0;font-size:.92rem}td,th{border:1px solid #d0d7de;padding:.3rem .6rem;
vertical-align:top;text-align:left}th{background:#f6f8fa}td.num{text-align:right;font-variant-numeric:tabular-nums}
.muted{color:#59636e;font-size:.9rem}svg{background:#fff;border:1px solid #d0d7de}
"""


def write_report(run: RunFolder) -> Path:
    """report.html in the run folder (rewritten each time); a ValueError before the run has finished."""
    result = run.result()
    if result is None:
        raise ValueError(f"Run {run.id} has not finished yet: a report needs its result.")
    log = run.read_log()
    info = status.overview(run, log)
    target = run.path / "report.html"
    partial = target.with_suffix(".partial")
    partial.write_text(render(info, result, status.losses(log)), encoding="utf-8")
    partial.replace(target)
    return target


def render(info: dict, result: dict, losses: list[tuple[int, float]]) -> str:
    e = html.escape
    title = f"{info['title']}: {result['registered_as']}"
    parts = [f"<!doctype html><html lang='en'><head><meta charset='utf-8'><title>{e(title)}</title>",
             f"<style>{CSS}</style></head><body>", f"<h1>{e(title)}</h1>",
             f"<p class='muted'>Transfer Studio report, {time.strftime('%Y-%m-%d %H:%M %Z')}; run <code>{e(result['run_id'])}"
             f"</code>.</p>"]
    parts += _summary(info, result)
    parts += [f"<div class='warn'>⚠️ {e(w)}</div>" for w in result.get("warnings", [])]
    parts += _metrics(result)
    parts += _curves(info, losses)
    parts += _confusion(result)
    parts += _examples(result)
    parts += _settings(info, result)
    parts += _glossary(result)
    parts.append("</body></html>")
    return "\n".join(parts)


def _summary(info: dict, result: dict) -> list[str]:
    e = html.escape
    comparison = result.get("comparison")
    what = (f"<p>The pretrained model <b>{e(result['base_model'])}</b> was fine-tuned on <b>{e(result['dataset'])}</b> "
            f"({result['train_rows']:,} training rows) and both models were scored on the same "
            f"{result['held_out_rows']:,} held-out rows, set aside before training.</p>")
    if not comparison:
        return ["<h2>In short</h2>", what]
    tally = comparison["tally"]
    return ["<h2>In short</h2>", what, f"<p class='lead'>{e(comparison['summary'])}</p>",
            f"<p>Row by row, the fine-tuned model does better on {tally['wins']:,}, worse on {tally['losses']:,} and the "
            f"same on {tally['ties']:,} of the {comparison['rows']:,} rows.</p>"]


def _metrics(result: dict) -> list[str]:
    e = html.escape
    rows = []
    comparison = result.get("comparison")
    if comparison:
        scale = comparison["points_scale"]
        (first, a), (second, b) = comparison["intervals"].items()
        d = comparison["difference"]
        rows.append(f"<tr><th>{e(result['metric'])} with 95% interval</th><td class='num'>{interval_text(a, scale)}</td>"
                    f"<td class='num'>{interval_text(b, scale)}</td><td class='num'>{interval_text(d, scale)}</td></tr>")
    for name, value in result["fine_tuned"].items():
        base = result["base"].get(name)
        diff = value - base if isinstance(base, (int, float)) else None
        rows.append(f"<tr><td>{e(name)}</td><td class='num'>{_number(base)}</td><td class='num'>{_number(value)}</td>"
                    f"<td class='num'>{_number(diff, signed=True)}</td></tr>")
    better = "higher" if result["higher_is_better"] else "lower"
    return ["<h2>Results on the held-out rows</h2>",
            f"<p>Headline metric: <b>{e(result['metric'])}</b> ({better} is better).</p>",
            "<table><tr><th>metric</th><th>base</th><th>fine-tuned</th><th>difference</th></tr>", *rows, "</table>"]


def _curves(info: dict, losses: list[tuple[int, float]]) -> list[str]:
    out = ["<h2>How training went</h2>"]
    if losses:
        out.append(line_chart({"training loss": [(float(s), float(v)) for s, v in losses]}, "step", "loss"))
    series: dict[str, list[tuple[float, float]]] = {}
    for evaluation in info["evaluations"]:
        for name in info["curve_metrics"]:
            if name in evaluation["metrics"]:
                series.setdefault(name, []).append((float(evaluation["epoch"]), float(evaluation["metrics"][name])))
    if series:
        out.append(line_chart(series, "epoch (0: the base model)", "held-out score"))
    return out


def _confusion(result: dict) -> list[str]:
    details = result.get("details", {})
    return _confusion_section([("Base", details.get("base", {})), ("Fine-tuned", details.get("fine_tuned", {}))])


def _confusion_section(named: list[tuple[str, dict]]) -> list[str]:
    """One table per (title, task details) that has a confusion matrix: true labels down, predictions across."""
    e = html.escape
    out = []
    for title, details in named:
        if "confusion_matrix" not in (details or {}):
            continue
        labels = details["labels"]
        head = "".join(f"<th>{e(str(label))}</th>" for label in labels)
        body = "".join(f"<tr><th>{e(str(label))}</th>{''.join(f'<td class=num>{n}</td>' for n in row)}</tr>"
                       for label, row in zip(labels, details["confusion_matrix"]))
        out += [f"<h3>{e(title)}: true label (rows) against prediction (columns)</h3>",
                f"<table><tr><th></th>{head}</tr>{body}</table>"]
    return (["<h2>Confusion matrices</h2>"] + out) if out else []


def _examples(result: dict) -> list[str]:
    e = html.escape
    examples = result.get("examples", [])
    if not examples:
        return []
    shown = examples[:SHOWN_EXAMPLES]
    best = [x for x in examples[-SHOWN_EXAMPLES:] if x not in shown]
    rows = "".join(f"<tr><td>{e(x['input'])}</td><td>{e(x['reference'])}</td><td>{e(x['base'])}</td>"
                   f"<td>{e(x['fine_tuned'])}</td></tr>" for x in shown + best)
    return ["<h2>Held-out examples side by side</h2>",
            f"<p class='muted'>The fine-tuned model's {len(shown)} worst held-out examples, then its best"
            f" ({len(shown) + len(best)} of {result['held_out_rows']:,}).</p>",
            "<table><tr><th>input</th><th>reference</th><th>base</th><th>fine-tuned</th></tr>", rows, "</table>"]


def _settings(info: dict, result: dict) -> list[str]:
    e = html.escape
    s = info["settings"]
    lora = s.get("lora")
    how = f"LoRA (rank {lora['r']}, alpha {lora['alpha']})" if lora else s["mode"]
    facts = [("task", info["title"]), ("base model", result["base_model"]), ("dataset", result["dataset"]),
             ("columns", ", ".join(f"{k}: {v}" for k, v in result["columns"].items())),
             ("training rows / held out", f"{result['train_rows']:,} / {result['held_out_rows']:,}"),
             ("how it was adapted", how), ("learning rate", s["learning_rate"]), ("epochs", s["epochs"]),
             ("batch size", s["batch_size"]), ("max length", s["max_length"]), ("seed", result["seed"]),
             ("precision", result["mixed_precision"]), ("processes", result["processes"]),
             ("trainable parameters", f"{result['trainable_parameters']:,} of {result['total_parameters']:,}"),
             ("training time", f"{result['training_time_s']:.0f} s ({result['samples_per_s']:.1f} samples/s)"),
             ("saved as", result["registered_as"]), ("python", platform.python_version()),
             *((name, _version(name)) for name in PACKAGES)]
    rows = "".join(f"<tr><th>{e(name)}</th><td>{e(str(value))}</td></tr>" for name, value in facts)
    return ["<h2>Data, settings and versions</h2>", f"<table>{rows}</table>"]


def _glossary(result: dict) -> list[str]:
    return ["<h2>Reading this report</h2>", "<ul>",
            "<li><b>Held-out rows</b> were set aside before training; scores on them show how the model does on "
            "text it has not seen.</li>",
            "<li><b>95% interval</b>: the range the score would likely fall in on another sample of similar rows "
            "(1,000 bootstrap resamples of the held-out rows). Narrow is precise.</li>",
            "<li><b>Paired difference</b>: both models answered the same rows, so their difference is measured row "
            "by row; when its interval excludes 0, the improvement is not an accident of which rows were drawn."
            "</li>", "</ul>"]


def line_chart(series: dict[str, list[tuple[float, float]]], x_label: str, y_label: str,
               width: int = 640, height: int = 260) -> str:
    """An inline SVG line chart, one colored line and legend entry per series."""
    colors = ("#2f81f7", "#d1242f", "#1a7f37", "#8250df")
    points = [p for values in series.values() for p in values]
    x0, x1 = min(x for x, _ in points), max(x for x, _ in points)
    y0, y1 = min(y for _, y in points), max(y for _, y in points)
    x1, y1 = (x1 if x1 > x0 else x0 + 1), (y1 if y1 > y0 else y0 + 1)
    left, right, top, bottom = 56, 12, 12, 40
    sx = lambda x: left + (x - x0) / (x1 - x0) * (width - left - right)  # noqa: E731
    sy = lambda y: height - bottom - (y - y0) / (y1 - y0) * (height - top - bottom)  # noqa: E731
    out = [f"<svg xmlns='http://www.w3.org/2000/svg' width='{width}' height='{height}' role='img' "
           f"aria-label='{html.escape(y_label)} against {html.escape(x_label)}'>"]
    for y in (y0, (y0 + y1) / 2, y1):
        out.append(f"<line x1='{left}' x2='{width - right}' y1='{sy(y):.1f}' y2='{sy(y):.1f}' stroke='#eaeef2'/>"
                   f"<text x='{left - 6}' y='{sy(y) + 4:.1f}' font-size='11' text-anchor='end'>{_number(y)}</text>")
    for x in (x0, x1):
        out.append(f"<text x='{sx(x):.1f}' y='{height - bottom + 16}' font-size='11' text-anchor='middle'>"
                   f"{_number(x)}</text>")
    out.append(f"<text x='{(left + width) / 2:.0f}' y='{height - 6}' font-size='12' text-anchor='middle'>"
               f"{html.escape(x_label)}</text>")
    for i, (name, values) in enumerate(series.items()):
        color = colors[i % len(colors)]
        path = " ".join(f"{sx(x):.1f},{sy(y):.1f}" for x, y in values)
        out.append(f"<polyline fill='none' stroke='{color}' stroke-width='2' points='{path}'/>")
        if len(values) < 30:
            out += [f"<circle cx='{sx(x):.1f}' cy='{sy(y):.1f}' r='3' fill='{color}'/>" for x, y in values]
        out.append(f"<text x='{left + 8}' y='{top + 14 + 14 * i}' font-size='12' fill='{color}'>"
                   f"{html.escape(name)}</text>")
    out.append("</svg>")
    return "".join(out)


def _number(value, signed: bool = False) -> str:
    if not isinstance(value, (int, float)):
        return "–"
    text = f"{value:+.4g}" if signed else f"{value:.4g}"
    return text


def _version(package: str) -> str:
    try:
        return importlib.metadata.version(package)
    except importlib.metadata.PackageNotFoundError:
        return "not installed"


def curve_chart(result: dict | None, width: int = 640, height: int = 300) -> str:
    """The learning curve as an inline SVG: each init's mean line, its seeds' spread as a band, and every
    seed's score as a dot; x on a log scale (subset sizes grow geometrically)."""
    if not result or not any(result["curves"].values()):
        return ""
    scale = result["points_scale"]
    colors = {"pretrained": "#2f81f7", "scratch": "#d1242f"}
    points = [p for curve in result["curves"].values() for p in curve]
    reference = result.get("reference")
    xs = [math.log(p["size"]) for p in points]
    ys = [v * scale for p in points for v in p["values"]] + ([reference["value"] * scale] if reference else [])
    x0, x1 = min(xs), max(xs) if max(xs) > min(xs) else min(xs) + 1
    y0, y1 = min(ys), max(ys) if max(ys) > min(ys) else min(ys) + 1
    pad = (y1 - y0) * 0.08
    y0, y1 = y0 - pad, y1 + pad
    left, right, top, bottom = 56, 16, 16, 44
    sx = lambda size: left + (math.log(size) - x0) / (x1 - x0) * (width - left - right)  # noqa: E731
    sy = lambda y: height - bottom - (y - y0) / (y1 - y0) * (height - top - bottom)  # noqa: E731
    out = [f"<svg xmlns='http://www.w3.org/2000/svg' width='{width}' height='{height}' role='img' "
           f"aria-label='held-out {html.escape(result['metric'])} against training rows' "
           "style='background:#fff;border:1px solid #d0d7de'>"]
    for y in (y0 + pad, (y0 + y1) / 2, y1 - pad):
        out.append(f"<line x1='{left}' x2='{width - right}' y1='{sy(y):.1f}' y2='{sy(y):.1f}' stroke='#eaeef2'/>"
                   f"<text x='{left - 6}' y='{sy(y) + 4:.1f}' font-size='11' text-anchor='end'>{y:.3g}</text>")
    for size in result["sizes"]:
        out.append(f"<text x='{sx(size):.1f}' y='{height - bottom + 16}' font-size='11' text-anchor='middle'>"
                   f"{size:,}</text>")
    out.append(f"<text x='{(left + width) / 2:.0f}' y='{height - 8}' font-size='12' text-anchor='middle'>training rows "
               f"(log scale); held-out {html.escape(result['metric'])}</text>")
    for i, (init, curve) in enumerate(result["curves"].items()):
        if not curve:
            continue
        color = colors.get(init, "#8250df")
        band = ([f"{sx(p['size']):.1f},{sy(p['high'] * scale):.1f}" for p in curve]
                + [f"{sx(p['size']):.1f},{sy(p['low'] * scale):.1f}" for p in reversed(curve)])
        out.append(f"<polygon points='{' '.join(band)}' fill='{color}' fill-opacity='0.15' stroke='none'/>")
        line = " ".join(f"{sx(p['size']):.1f},{sy(p['mean'] * scale):.1f}" for p in curve)
        out.append(f"<polyline fill='none' stroke='{color}' stroke-width='2' points='{line}'/>")
        out += [f"<circle cx='{sx(p['size']):.1f}' cy='{sy(v * scale):.1f}' r='3' fill='{color}'/>"
                for p in curve for v in p["values"]]
        label = "pretrained" if init == "pretrained" else "from scratch (random init)"
        out.append(f"<text x='{left + 8}' y='{top + 14 + 16 * i}' font-size='12' fill='{color}'>{label}</text>")
    if reference:  # a model scored once on the same rows (an LLM asked zero-shot): a dashed line across
        y = sy(reference["value"] * scale)
        out.append(f"<line x1='{left}' x2='{width - right}' y1='{y:.1f}' y2='{y:.1f}' stroke='#8250df' "
                   "stroke-width='2' stroke-dasharray='6 4'/>"
                   f"<text x='{width - right - 4}' y='{y - 5:.1f}' font-size='12' fill='#8250df' text-anchor='end'>"
                   f"{html.escape(reference['name'])}: {reference['value'] * scale:.1f}</text>")
    out.append("</svg>")
    return "".join(out)


# --- any report by its id: a run's here, an evaluation's or a learning curve's in job_report.py ----------

def write_for(identifier: str, owner: str | None = None) -> list[Path]:
    """The report of a run, an evaluation ("eval-...") or a learning curve ("curve-..."), by its id: the
    self-contained HTML page, then its Markdown companion (a run's: the model card)."""
    from pipelines.evaluation import job_report, jobs
    from pipelines.finetune.runs import find_run

    identifier = (identifier or "").strip()
    for kind, prefix in jobs.PREFIXES.items():
        if identifier.startswith(prefix + "-"):
            return job_report.write_job_report(jobs.find_job(kind, identifier, owner))
    run = find_run(identifier, owner)
    page = write_report(run)
    card = run.model_dir / "README.md"
    return [page, card] if card.is_file() else [page]

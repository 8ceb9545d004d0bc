"""What the Evaluate tab shows, as plain data: tables and sentences from an evaluation's or a learning
curve's status and result (pipelines/evaluation). No gradio here, so it is tested without a browser."""

from __future__ import annotations


import pandas as pd

from pipelines.evaluation.compare import interval_text

MODEL_HEADERS = ["Model", "Headline metric (95% CI)", "Other metrics", "Rows/s", "ms per row", "Load s"]
COMPARISON_HEADERS = ["Against the first", "Difference (95% CI)", "Better / worse / same rows", "McNemar p"]
FILTERS = ["All rows", "Rows where the models differ", "Rows a model gets wrong"]
CURVE_HEADERS = ["Rows", "Pretrained: mean (lowest–highest)", "From scratch: mean (lowest–highest)", "Gap"]


def status_markdown(job_id: str, status: dict, what: str = "Evaluation") -> str:
    state = status.get("state", "?")
    message = (status.get("message") or "").strip()
    if state in ("failed", "interrupted") and "\n" in message:
        first, _, tail = message.partition("\n")
        message = f"{first}\n```\n{tail}\n```"
    return f"**{what} `{job_id}`: {state}.** {message}"


def progress_html(status: dict) -> str:
    done, total = float(status.get("done") or 0), float(status.get("total") or 0)
    if status.get("state") == "finished":
        done = total
    bar = f'<progress value="{done:.3f}" max="{total or 1}" style="width:100%;height:14px"></progress>'
    return f"<div>{bar}</div>"


def model_rows(result: dict | None) -> list[list]:
    if not result:
        return []
    scale, metric = result["points_scale"], result["metric"]
    rows = []
    for m in result["models"]:
        others = ", ".join(f"{k} {v:.3f}" for k, v in m["metrics"].items() if k != metric)
        rows.append([m["name"], f"{metric} {interval_text(m['interval'], scale)}", others, m["rows_per_s"],
                     m["ms_per_row"], m["load_seconds"]])
    return rows


def comparison_rows(result: dict | None) -> list[list]:
    rows = []
    for c in (result or {}).get("comparisons", []):
        d, scale = c["difference"], c["points_scale"]
        digits = 1 if scale != 1 else 3
        tally = c["tally"]
        mcnemar = c.get("mcnemar")
        rows.append([f"{c['names'][1]} vs {c['names'][0]}",
                     f"{d['value'] * scale:+.{digits}f} ({d['low'] * scale:+.{digits}f} to {d['high'] * scale:+.{digits}f})",
                     f"{tally['wins']} / {tally['losses']} / {tally['ties']}",
                     f"{mcnemar['p_value']:.3g}" if mcnemar else "–"])
    return rows


def summary_markdown(result: dict | None) -> str:
    if not result:
        return ""
    lines = [f"### {result['title']}: {len(result['models'])} model(s) on {result['rows']:,} rows ({result['source']})",
             f"**{result['summary']}**"]
    lines += [f"⚠️ {w}" for w in result.get("warnings", [])]
    return "\n\n".join(lines)


def example_headers(result: dict | None) -> list[str]:
    names = [m["name"] for m in (result or {}).get("models", [])] or ["Model"]
    return ["Input", "Reference", *names]


def example_rows(result: dict | None, shown: str = FILTERS[0], limit: int = 500) -> pd.DataFrame:
    """Per-example outputs side by side, one column per model; filtered to rows where the models differ,
    or to rows a model gets wrong."""
    examples = (result or {}).get("examples", [])
    if shown == FILTERS[1]:
        examples = [e for e in examples if e["disagree"]]
    elif shown == FILTERS[2]:
        examples = [e for e in examples if e["error"]]
    return pd.DataFrame([[e["input"], e["reference"], *e["outputs"]] for e in examples[:limit]],
                        columns=example_headers(result))


def confusion_markdown(result: dict | None) -> str:
    """One small table per model (classification): true labels down, predictions across."""
    parts = []
    for m in (result or {}).get("models", []):
        details = m.get("details") or {}
        if "confusion_matrix" not in details:
            continue
        labels = details["labels"]
        head = "| true \\ predicted | " + " | ".join(labels) + " |"
        rule = "|---" * (len(labels) + 1) + "|"
        body = [f"| **{label}** | " + " | ".join(str(v) for v in row) + " |"
                for label, row in zip(labels, details["confusion_matrix"])]
        parts.append(f"**{m['name']}**\n\n" + "\n".join([head, rule, *body]))
    return "\n\n".join(parts)


def curve_rows(result: dict | None) -> list[list]:
    if not result:
        return []
    scale = result["points_scale"]
    digits = 1 if scale != 1 else 3
    by_size = {init: {p["size"]: p for p in points} for init, points in result["curves"].items()}
    gaps = {g["size"]: g for g in result["gaps"]}

    def cell(point):
        if point is None:
            return "–"
        return f"{point['mean'] * scale:.{digits}f} ({point['low'] * scale:.{digits}f}–{point['high'] * scale:.{digits}f})"

    return [[size, cell(by_size.get("pretrained", {}).get(size)), cell(by_size.get("scratch", {}).get(size)),
             f"{gaps[size]['gap'] * scale:+.{digits}f}" if size in gaps else "–"] for size in result["sizes"]]

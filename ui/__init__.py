"""The Gradio layer: one small builder per tab (TASK, TITLE, build()) and what they share (common)."""

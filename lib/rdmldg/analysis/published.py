"""The papers' published numbers (docs/science.md §1A), shown beside ours for reference only:
they are real-data, 8B-model results; the default study is a miniature world."""

from __future__ import annotations

import pandas as pd

SOURCE = "Xu et al., RD-MLDG (arXiv 2602.23777), leave-one-domain-out accuracy, %"

MAIN = pd.DataFrame(
    [("DomainBed ERM (ResNet-50)", 85.5, 77.5, 66.5, 46.1, 68.9),
     ("CLIP zero-shot (ViT-B/16)", 96.2, 81.7, 82.0, 33.4, 73.3),
     ("InternVL3-8B zero-shot", 96.26, 85.67, 85.10, 46.84, 78.47),
     ("GPT-4o zero-shot", 97.83, 85.41, 90.12, 60.49, 83.46),
     ("RD-MLDG (InternVL3-8B)", 98.13, 87.03, 91.73, 70.65, 86.89)],
    columns=["method", "PACS", "VLCS", "OfficeHome", "TerraInc", "avg"]).set_index("method")

# Ablation rows, keyed by the study's method names.
ABLATION = pd.DataFrame(
    [("zeroshot", "zero-shot", 85.10, 46.84),
     ("label", "label only", 89.39, 66.69),
     ("reasoning", "reasoning only", 88.76, 64.56),
     ("mtct", "+MTCT", 90.58, 67.19),
     ("sarr", "+SARR", 90.91, 65.29),
     ("rdmldg", "MTCT+SARR", 91.73, 70.65)],
    columns=["method", "paper row", "OfficeHome", "TerraInc"]).set_index("method")

MMD = {"chain text": 0.099, "image": 0.239}
CHALLENGE2_GAIN_POINTS = {"self": 29.74, "teacher": 1.88}
CHALLENGE1_HIGH_CONFIDENCE = {"label SFT": 0.9223, "reasoning SFT": 0.8633}


def ablation_beside(ours: dict[str, pd.DataFrame], methods: list[str]) -> pd.DataFrame:
    """The paper's ablation rows for the study's methods, with this run's Avg in each readout
    (`ours`: readout → its LODO table; "answer", each method's own readout, first)."""
    rows = ABLATION.loc[[m for m in methods if m in ABLATION.index]]
    readouts = sorted(ours, key=lambda r: r != "answer")
    return rows.join(pd.DataFrame({f"ours Avg ({r})": ours[r]["Avg"].round(1) for r in readouts}))

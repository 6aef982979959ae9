"""The mapping-deficiency probe: a linear classifier on frozen vision-tower features."""

from __future__ import annotations

import numpy as np
import torch


@torch.inference_mode()
def vision_features(tower, processor, images, batch_size: int = 64) -> np.ndarray:
    """Mean-pooled last hidden states of the vision tower, one row per image."""
    device = next(tower.parameters()).device
    feats = []
    for i in range(0, len(images), batch_size):
        pixels = processor.image_processor(images[i:i + batch_size], return_tensors="pt")["pixel_values"]
        out = tower(pixel_values=pixels.to(device, dtype=next(tower.parameters()).dtype))
        feats.append(out.last_hidden_state.float().mean(dim=1).cpu().numpy())
    return np.concatenate(feats)


def linear_probe(X_train, y_train, X_test, y_test, C: float = 0.316) -> float:
    """Test accuracy of a standardised logistic regression (C = 0.316, as in the OOD study)."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    model = make_pipeline(StandardScaler(), LogisticRegression(C=C, max_iter=3000))
    model.fit(X_train, y_train)
    return float(model.score(X_test, y_test))

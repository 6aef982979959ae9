"""The mapping-deficiency probe: a linear classifier on frozen vision-tower features."""

from __future__ import annotations

import numpy as np
import torch


@torch.inference_mode()
def vision_features(tower, processor, images, batch_size: int = 64) -> np.ndarray:
    """Mean-pooled last hidden states of the vision tower, one row per image (over all of an
    image's patches, and over all its tiles where the processor tiles)."""
    param = next(tower.parameters())
    feats = []
    for i in range(0, len(images), batch_size):
        chunk = images[i:i + batch_size]
        batch = processor.image_processor(chunk, return_tensors="pt")
        pixels = batch["pixel_values"].to(param.device, dtype=param.dtype)
        if "image_grid_thw" in batch:  # Qwen2-VL: every image's patches in one flat sequence
            grid = batch["image_grid_thw"].to(param.device)
            hidden = tower(pixels, grid_thw=grid).last_hidden_state
            per_image = [h.mean(dim=0) for h in hidden.split(grid.prod(dim=-1).tolist())]
        else:  # LLaVA, InternVL: one row per image, or per tile (`num_patches` tiles each)
            rows = tower(pixel_values=pixels).last_hidden_state.mean(dim=1)
            tiles = batch["num_patches"].tolist() if "num_patches" in batch else [1] * len(chunk)
            per_image = [r.mean(dim=0) for r in rows.split(tiles)]
        feats.append(torch.stack(per_image).float().cpu().numpy())
    return np.concatenate(feats)


def linear_probe(X_train, y_train, X_test, y_test, C: float = 0.316) -> float:
    """Test accuracy of a standardised logistic regression (C = 0.316, as in the OOD study)."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    model = make_pipeline(StandardScaler(), LogisticRegression(C=C, max_iter=3000))
    model.fit(X_train, y_train)
    return float(model.score(X_test, y_test))

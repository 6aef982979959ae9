"""The methods the study compares (docs/science.md §1A), as data: what each trains on."""

from __future__ import annotations

from dataclasses import dataclass

# the two training pathways (docs/science.md §1A), as the ids batches and Eq. 1 carry
CLS, REASON = 0, 1   # q_cls → class name; q_reason → reasoning chain


@dataclass(frozen=True)
class Method:
    name: str
    pathways: tuple[int, ...]   # CLS: q_cls → class name; REASON: q_reason → chain
    sarr: bool                  # followed by self-aligned reasoning rounds
    description: str
    stage0: str = ""            # the method whose training is this one's stage 0 ("": itself)

    def __post_init__(self):
        object.__setattr__(self, "stage0", self.stage0 or self.name)

    @property
    def readout(self) -> str:
        """How this method's model answers, for validation and the headline table: by `q_cls`
        class log-likelihood if it was trained to answer `q_cls`; by the CONCLUSION of its
        `q_reason` chain if it was trained on chains alone (after reasoning-only SFT the model
        answers `q_cls` with a chain, not a class name, and its class log-likelihoods say little)."""
        return "loglik" if CLS in self.pathways else "reason"


METHODS = {
    "label": Method("label", (CLS,), False, "label SFT: q_cls → class name"),
    "reasoning": Method("reasoning", (REASON,), False, "reasoning SFT: q_reason → teacher chain"),
    "mtct": Method("mtct", (CLS, REASON), False, "multi-task cross-training: both pathways, Eq. 1"),
    "sarr": Method("sarr", (REASON,), True, "reasoning SFT, then SARR rounds on self-chains (no q_cls)", "reasoning"),
    "rdmldg": Method("rdmldg", (CLS, REASON), True, "MTCT, then SARR rounds with both terms (Eq. 2)", "mtct"),
}


ZEROSHOT_READOUT = "loglik"  # the base model was pretrained to answer q_cls


def readout(name: str) -> str:
    """The headline readout of a method, or of the zero-shot base ("zeroshot")."""
    return ZEROSHOT_READOUT if name == "zeroshot" else get(name).readout


def get(name: str) -> Method:
    if name not in METHODS:
        raise KeyError(f"unknown method '{name}'; known: {', '.join(METHODS)}")
    return METHODS[name]
